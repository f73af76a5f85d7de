#!/usr/bin/env node
// The operator CLI. The TypeScript source runs through tsx's loader: no build step for a dev tool.
import process from "node:process";
import { register } from "tsx/esm/api";

register();
const { main, exitQuietlyOnClosedPipe } = await import("../scripts/cli.ts");
exitQuietlyOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
