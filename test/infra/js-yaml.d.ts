// js-yaml ships no types; the tests only load a YAML document.
declare module "js-yaml" {
  export function load(text: string): unknown;
}
