/**
 * Figures and how they are shown: one Markdown table on stdout (each figure beside its reference,
 * the ratio and the goal) and the same figures, with their details, as JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

type Verdict = "pass" | "short" | "info" | "not measured";

export interface Figure {
  readonly section: string;
  readonly name: string;
  /** The measured value in `unit`; null when not measured or when it is not a number. */
  readonly value: number | null;
  readonly unit: "ms" | "calls" | "rows";
  /** Shown instead of the value (e.g. "> 20 s (stopped)"). */
  readonly display?: string;
  readonly reference: string;
  readonly referenceValue: number | null;
  readonly referenceDisplay?: string;
  /** value / referenceValue, when both are numbers. */
  readonly ratio: number | null;
  readonly goal: string;
  readonly verdict: Verdict;
  /** One line shown under the table: the plan node, rows changed, what the reference is. */
  readonly note?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export function figure(
  input: Omit<Figure, "ratio" | "verdict"> & { ratio?: number | null; verdict?: Verdict },
): Figure {
  const ratio =
    input.ratio !== undefined
      ? input.ratio
      : input.value !== null && input.referenceValue !== null && input.referenceValue > 0
        ? input.value / input.referenceValue
        : null;
  return { ...input, ratio, verdict: input.verdict ?? "info" };
}

function formatValue(value: number | null, unit: Figure["unit"], display?: string): string {
  if (display !== undefined) return display;
  if (value === null) return "";
  if (unit === "ms") return formatMs(value);
  return `${value.toLocaleString("en-US")} ${unit}`;
}

export function formatMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return "";
  if (ratio >= 10) return `${ratio.toFixed(0)}x`;
  return ratio >= 0.01 ? `${ratio.toFixed(2)}x` : `${ratio.toPrecision(2)}x`;
}

const escapeCell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function markdownTable(figures: readonly Figure[]): string {
  const lines: string[] = [];
  const sections = [...new Set(figures.map((f) => f.section))];
  for (const section of sections) {
    const rows = figures.filter((f) => f.section === section);
    lines.push(`### ${section}`, "");
    lines.push("| figure | measured | reference | reference measured | ratio | goal | result |");
    lines.push("| --- | ---: | --- | ---: | ---: | --- | --- |");
    for (const f of rows) {
      lines.push(
        `| ${[
          f.name,
          formatValue(f.value, f.unit, f.display),
          f.reference,
          formatValue(f.referenceValue, f.unit, f.referenceDisplay),
          formatRatio(f.ratio),
          f.goal,
          f.verdict === "pass" ? "pass" : f.verdict === "short" ? "**short**" : f.verdict,
        ]
          .map(escapeCell)
          .join(" | ")} |`,
      );
    }
    const notes = rows.filter((f) => f.note);
    if (notes.length > 0) {
      lines.push("");
      for (const f of notes) lines.push(`- ${f.name}: ${f.note}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

export function writeJson(path: string, content: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(content, null, 2)}\n`);
}
