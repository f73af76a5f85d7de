/** The scan nodes of a statement's plan, e.g. "Index Scan using orders_pending_placed_at_idx on orders". */
import type pg from "pg";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

export async function scanNodes(
  client: pg.ClientBase,
  sql: string,
  params: number[] = [],
): Promise<string[]> {
  // node-postgres sends parameters with an unnamed statement, which PostgreSQL plans with their
  // values: the plan of the statement with the values written in is the plan the runner gets.
  const inlined = sql.replace(/\$(\d+)/g, (_, n: string) => String(params[Number(n) - 1] ?? "NULL"));
  const result = await client.query<{ "QUERY PLAN": { Plan: PlanNode }[] }>(
    `EXPLAIN (FORMAT JSON) ${inlined}`,
  );
  const nodes: string[] = [];
  const indexesUnder = (node: PlanNode): string[] => [
    ...(node["Index Name"] ? [node["Index Name"]] : []),
    ...(node.Plans ?? []).flatMap(indexesUnder),
  ];
  const walk = (node: PlanNode): void => {
    if (node["Node Type"] === "Bitmap Heap Scan") {
      // Its Bitmap Index Scan children name the indexes but not the table.
      nodes.push(`Bitmap Heap Scan using ${indexesUnder(node).join(", ")} on ${node["Relation Name"]}`);
      return;
    }
    if (node["Relation Name"] && node["Node Type"] !== "ModifyTable") {
      nodes.push(
        node["Index Name"]
          ? `${node["Node Type"]} using ${node["Index Name"]} on ${node["Relation Name"]}`
          : `${node["Node Type"]} on ${node["Relation Name"]}`,
      );
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(result.rows[0]!["QUERY PLAN"][0]!.Plan);
  return nodes;
}

/** True when every scan of `table` in the plan goes through an index. */
export function indexDriven(nodes: readonly string[], table: string): boolean {
  const scans = nodes.filter((n) => n.endsWith(` on ${table}`));
  return scans.length > 0 && scans.every((n) => n.includes(" using "));
}
