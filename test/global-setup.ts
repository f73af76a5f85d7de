/**
 * Starts the PostgreSQL the tests run against, once per `vitest run`: the server DATABASE_URL names,
 * or a throwaway embedded one. Builds a template database (app schema + migrations) that each test
 * file clones into a database of its own.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import type { EmbeddedServer } from "../scripts/local/embedded-postgres.js";
import { startEmbeddedPostgres } from "../scripts/local/embedded-postgres.js";
import { applyAppSchema, migrate } from "../scripts/lib/migrate.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** A URL with the right to create databases (the "postgres" database of the test server). */
    adminDatabaseUrl: string;
    templateDatabase: string;
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let server: EmbeddedServer | undefined;
  let adminUrl: string;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
  } else {
    server = await startEmbeddedPostgres({
      dataDir: mkdtempSync(join(tmpdir(), "scheduled-jobs-test-pg-")),
      persistent: false,
    });
    adminUrl = server.url("postgres");
  }

  const template = `sj_template_${process.pid}`;
  try {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    await admin.query(`CREATE DATABASE ${template}`);
    await admin.end();
    const templateUrl = withDatabase(adminUrl, template);
    await applyAppSchema(templateUrl);
    await migrate(templateUrl);
  } catch (error) {
    await server?.stop();
    throw error;
  }

  project.provide("adminDatabaseUrl", adminUrl);
  project.provide("templateDatabase", template);

  return async () => {
    if (server) {
      await server.stop();
      return;
    }
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await cleanup.end();
  };
}
