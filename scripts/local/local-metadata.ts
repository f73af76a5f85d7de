/**
 * A loopback stand-in for the metadata server's identity endpoint, which is where the deployed
 * function's http tasks get their ID tokens (google-auth-library's ID-token client asks
 * `/computeMetadata/v1/instance/service-accounts/default/identity?audience=<aud>` with the
 * `Metadata-Flavor: Google` header: https://cloud.google.com/docs/authentication/get-id-token#metadata-server).
 * The local function is pointed at it through google-auth-library's own variables
 * (GCE_METADATA_HOST, METADATA_SERVER_DETECTION), so the code that runs is the deployed code; the
 * tokens are the development identity's, for the function's own (local) account.
 */
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DevIdentity } from "./dev-identity.js";

const IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity";

export interface LocalMetadata {
  /** `host:port`, for GCE_METADATA_HOST. */
  readonly host: string;
  /** The environment that points google-auth-library at this server. */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export async function serveMetadata(identity: DevIdentity, email: string): Promise<LocalMetadata> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://metadata");
    const audience = url.searchParams.get("audience");
    // The real server refuses a request without the header (it guards against forwarded requests).
    if (request.headers["metadata-flavor"] !== "Google") {
      response
        .writeHead(403, { "content-type": "text/plain" })
        .end("Missing Metadata-Flavor: Google header\n");
      return;
    }
    if (url.pathname !== IDENTITY_PATH || !audience) {
      response
        .writeHead(404, { "content-type": "text/plain", "metadata-flavor": "Google" })
        .end("Not found\n");
      return;
    }
    response.writeHead(200, { "content-type": "text/plain", "metadata-flavor": "Google" });
    response.end(identity.signIdToken({ aud: audience, email }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    env: {
      GCE_METADATA_HOST: host,
      METADATA_SERVER_DETECTION: "assume-present",
      // A developer's gcloud credentials would come first and cannot mint ID tokens for an
      // audience: an empty gcloud folder leaves the metadata server as the only source, as deployed.
      CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), "sj-no-gcloud-")),
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
