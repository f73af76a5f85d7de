/**
 * Google's proof for an http task's call, with the real google-auth-library against a stand-in
 * metadata server on loopback (google-auth-library's GCE_METADATA_HOST): the ID token is asked for
 * the target's audience as the function's own service account, with no key file, and carried as
 * the call's bearer token; the client keeps it for the next call.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OutgoingCall } from "../functions/core/run/http-contract.js";
import { googleIdTokenAuthorizer } from "../functions/gcp/id-token.js";
import { createDevIdentity } from "../scripts/local/dev-identity.js";

const identity = createDevIdentity({ email: "sched-jobs-runtime@my-project.iam.gserviceaccount.com" });
const asked: { path: string; flavor: string | undefined }[] = [];
let metadata: Server;
const saved = { ...process.env };

beforeAll(async () => {
  metadata = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://metadata");
    asked.push({
      path: `${url.pathname}${url.search}`,
      flavor: req.headers["metadata-flavor"] as string | undefined,
    });
    const audience = url.searchParams.get("audience");
    if (url.pathname !== "/computeMetadata/v1/instance/service-accounts/default/identity" || !audience) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "metadata-flavor": "Google", "content-type": "application/text" });
    res.end(identity.signIdToken({ aud: audience }));
  });
  await new Promise<void>((resolve) => metadata.listen(0, "127.0.0.1", resolve));
  const { port } = metadata.address() as AddressInfo;
  process.env.GCE_METADATA_HOST = `127.0.0.1:${port}`;
  process.env.METADATA_SERVER_DETECTION = "assume-present";
  // No application default credentials on this machine: only the metadata server can answer.
  process.env.CLOUDSDK_CONFIG = mkdtempSync(join(tmpdir(), "no-gcloud-"));
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
});

afterAll(async () => {
  process.env = saved;
  await new Promise((resolve) => metadata.close(resolve));
});

function callTo(audience: string): OutgoingCall {
  return {
    targetKey: "app-backend",
    target: { url: "https://app-backend.example", audience, internal: false },
    url: new URL("https://app-backend.example/internal/notify-drivers"),
    method: "POST",
    headers: {},
    body: "{}",
  };
}

describe("Google's ID token for an http task", () => {
  it("is minted by the metadata server for the target's audience and kept for the next call", async () => {
    const authorize = await googleIdTokenAuthorizer();
    const audience = "https://app-backend-123456789012.europe-west1.run.app";
    const first = await authorize(callTo(audience));
    const second = await authorize(callTo(audience));
    const token = (first.authorization ?? "").replace(/^Bearer /, "");
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      aud: audience,
      iss: "https://accounts.google.com",
      email: identity.email,
    });
    expect(second.authorization).toBe(first.authorization);
    const identityAsks = asked.filter((ask) => ask.path.includes("/identity"));
    expect(identityAsks).toHaveLength(1);
    expect(identityAsks[0]?.flavor).toBe("Google");
    expect(new URLSearchParams(identityAsks[0]?.path.split("?")[1]).get("audience")).toBe(audience);
  });
});
