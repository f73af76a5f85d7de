/**
 * The per-request cost of `authenticate` on a warm certificate cache: a development token verified
 * against certificates already fetched from a loopback server. Run: `npx tsx bench/auth.ts`.
 */
import { createAuthenticator } from "../functions/gcp/auth.js";
import { createDevIdentity, serveCerts, stripSignature } from "../scripts/local/dev-identity.js";

const iterations = Number(process.argv[2] ?? 20_000);
const identity = createDevIdentity();
const certs = await serveCerts(identity);
const config = {
  audiences: [identity.audience],
  allowedEmails: new Set([identity.email]),
  certsUrl: certs.url,
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function measure(label: string, authenticate: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 2000; i += 1) await authenticate(); // warm: certificates cached, code optimised
  const samples: number[] = [];
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) {
    const t0 = process.hrtime.bigint();
    await authenticate();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
  samples.sort((a, b) => a - b);
  console.log(
    `${label}: ${iterations} calls, mean ${((totalMs * 1000) / iterations).toFixed(1)} µs, ` +
      `p50 ${percentile(samples, 50).toFixed(1)} µs, p99 ${percentile(samples, 99).toFixed(1)} µs, ` +
      `max ${percentile(samples, 100).toFixed(1)} µs`,
  );
}

const verifying = createAuthenticator({ mode: "verify", ...config });
const signed = `Bearer ${identity.signIdToken()}`;
await measure("verify mode, RS256 signature checked", () => verifying.authenticate(signed));

const cloudRun = createAuthenticator({ mode: "cloud-run", ...config });
const stripped = `Bearer ${stripSignature(identity.signIdToken())}`;
await measure("cloud-run mode, signature removed by Cloud Run", () => cloudRun.authenticate(stripped));

const forged = `Bearer ${createDevIdentity({ kid: identity.kid, audience: identity.audience }).signIdToken()}`;
await measure("verify mode, forged signature refused", () =>
  verifying.authenticate(forged).catch(() => undefined),
);

console.log(`certificate fetches: ${certs.requests}`);
await certs.close();
