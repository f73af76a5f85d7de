/**
 * A stack's config file (`Pulumi.<stack>.yaml`) turned into what the Pulumi engine hands the language
 * host in its RunRequest: every value a string (a YAML scalar's own text, an object as JSON), secure
 * values decrypted and their keys listed as secret. Edits go through the file's document the way
 * `pulumi config set [--path] [--secret]` makes them, so a test changes the stack as an operator would.
 *
 * How the engine builds the map: pkg/resource/deploy/source_eval.go (`Target.Config.Decrypt`,
 * `SecureKeys`) and sdk/go/common/resource/config/value.go (a scalar is decoded into a string, an
 * object is re-marshalled to JSON, `{secure: ...}` is a secret) in github.com/pulumi/pulumi.
 */
import { readFileSync } from "node:fs";
import type { Node, YAMLMap } from "yaml";
import { isMap, isScalar, parseDocument } from "yaml";

/** What the engine passes as RunRequest.config and RunRequest.configSecretKeys. */
export interface RunConfig {
  readonly config: Readonly<Record<string, string>>;
  readonly secretKeys: readonly string[];
}

/**
 * A stand-in for the stack's secrets provider: the engine decrypts secure values before the program
 * runs, so the provider's cipher is not under test. Anything it did not encrypt is refused.
 */
const CIPHER_PREFIX = "test-provider:";
const encrypt = (plaintext: string): string =>
  CIPHER_PREFIX + Buffer.from(plaintext, "utf8").toString("base64");
function decrypt(ciphertext: string, key: string): string {
  if (!ciphertext.startsWith(CIPHER_PREFIX)) {
    throw new Error(`${key}: a secure value this test's secrets provider did not encrypt`);
  }
  return Buffer.from(ciphertext.slice(CIPHER_PREFIX.length), "base64").toString("utf8");
}

export class StackFile {
  private constructor(
    private readonly project: string,
    private readonly document: ReturnType<typeof parseDocument>,
  ) {}

  /** `project` namespaces the keys written without one, as Pulumi does. */
  static read(path: string | URL, project: string): StackFile {
    return new StackFile(project, parseDocument(readFileSync(path, "utf8")));
  }

  private get config(): YAMLMap {
    const config = this.document.get("config", true);
    if (!isMap(config)) throw new Error("the stack file has no config map");
    return config;
  }

  private qualified(key: string): string {
    return key.includes(":") ? key : `${this.project}:${key}`;
  }

  /** The parsed value of a key (an object for object values), as the file holds it. */
  get(key: string): unknown {
    const node = this.config.get(this.qualified(key), true) as Node | undefined;
    return node === undefined ? undefined : (node.toJSON() as unknown);
  }

  /**
   * `pulumi config set <key> <value>`, with `path` for `--path` (dots step into objects) and `secret`
   * for `--secret`. Values set by path are stored as strings, as the CLI stores them.
   */
  set(key: string, value: string, options: { path?: boolean; secret?: boolean } = {}): this {
    const stored = options.secret ? this.document.createNode({ secure: encrypt(value) }) : value;
    if (!options.path) {
      // A new node: setting a plain value would keep the old scalar's source text, which runConfig reads.
      this.config.set(this.qualified(key), this.document.createNode(stored));
      return this;
    }
    const [top, ...steps] = key.split(".");
    if (top === undefined || steps.length === 0) throw new Error(`--path needs a dotted key: ${key}`);
    this.config.setIn([this.qualified(top), ...steps], stored);
    return this;
  }

  /** The config map and secret keys of the engine's RunRequest for this stack. */
  runConfig(): RunConfig {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const pair of this.config.items) {
      const key = this.qualified(String(isScalar(pair.key) ? pair.key.value : pair.key));
      const node = pair.value as Node | null;
      if (node === null || (isScalar(node) && node.value === null)) continue;
      if (isScalar(node)) {
        // Pulumi decodes a scalar into a string: `60` is "60" and `1.0` stays "1.0".
        config[key] = node.source ?? String(node.value);
        continue;
      }
      const value = node.toJSON() as unknown;
      if (isSecure(value)) {
        config[key] = decrypt(value.secure, key);
        secretKeys.push(key);
        continue;
      }
      if (containsSecure(value)) {
        throw new Error(`${key}: secure values inside objects are not needed by this stack`);
      }
      config[key] = JSON.stringify(value);
    }
    return { config, secretKeys };
  }
}

function isSecure(value: unknown): value is { secure: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.keys(value).length === 1 &&
    typeof (value as { secure?: unknown }).secure === "string"
  );
}

function containsSecure(value: unknown): boolean {
  if (isSecure(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecure);
  if (typeof value === "object" && value !== null) return Object.values(value).some(containsSecure);
  return false;
}
