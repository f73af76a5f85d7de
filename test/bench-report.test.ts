import { describe, expect, it } from "vitest";
import { parseOptions, parseSize } from "../bench/lib/options.js";
import { figure, markdownTable } from "../bench/lib/report.js";

describe("the benchmark's command line", () => {
  it("when sizes carry k or M, then they are read as thousands and millions", () => {
    expect([parseSize("100k"), parseSize("1M"), parseSize("1.5M"), parseSize("2500")]).toEqual([
      100_000, 1_000_000, 1_500_000, 2500,
    ]);
    expect(() => parseSize("lots")).toThrow(/not a size/);
  });

  it("when no flag is given, then the default sizes are the documented ones", () => {
    const options = parseOptions([], "2026-01-01T00:00:00.000Z");
    expect(options.orders).toEqual([100_000, 1_000_000, 5_000_000]);
    expect(options.backlog).toEqual([4_000_000]);
    expect(options.capMs).toBe(5000);
    expect([...options.only]).toEqual([
      "minute",
      "daily",
      "archive",
      "per-call",
      "cold-start",
      "http",
      "email",
      "connector",
      "plan",
    ]);
    expect(options.out).toMatch(/bench\/results\/2026-01-01T00-00-00-000Z\.json$/);
  });

  it("when --smoke is given, then every size is tiny", () => {
    const options = parseOptions(["--smoke"]);
    expect(Math.max(...options.orders, ...options.backlog)).toBeLessThanOrEqual(40_000);
  });

  it("when --only names figure groups, then only those run", () => {
    expect([...parseOptions(["--only=minute,archive"]).only]).toEqual(["minute", "archive"]);
  });

  it("when a flag or a group is unknown, then the error names the known ones", () => {
    expect(() => parseOptions(["--size=1M"])).toThrow(/unknown flag --size; known: smoke, orders/);
    expect(() => parseOptions(["--only=everything"])).toThrow(/unknown figure group "everything"/);
  });
});

describe("the results table", () => {
  it("when a figure is short of its goal, then its row says so beside the reference and the ratio", () => {
    const table = markdownTable([
      figure({
        section: "Bulk archive",
        name: "longest transaction",
        value: 400,
        unit: "ms",
        reference: "one UPDATE",
        referenceValue: 20_000,
        goal: "≤ 250 ms",
        verdict: "short",
        note: "40 batches",
      }),
    ]);
    expect(table).toContain("### Bulk archive");
    expect(table).toContain(
      "| longest transaction | 400 ms | one UPDATE | 20.0 s | 0.02x | ≤ 250 ms | **short** |",
    );
    expect(table).toContain("- longest transaction: 40 batches");
  });

  it("when a figure could not be measured, then it shows why instead of a number", () => {
    const table = markdownTable([
      figure({
        section: "S",
        name: "x",
        value: null,
        unit: "ms",
        display: "> 20.0 s (stopped)",
        reference: "ours",
        referenceValue: 10,
        ratio: 2000,
        goal: "",
      }),
    ]);
    expect(table).toContain("| x | > 20.0 s (stopped) | ours | 10.0 ms | 2000x |  | info |");
  });
});
