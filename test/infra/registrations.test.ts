/**
 * The Google stack's registrations, pinned: every resource `pulumi up` on the shipped dev stack
 * would register (type, name, parent, inputs as the SDK serialized them), compared with a snapshot
 * committed beside this test. A change of layout (moved modules, a second cloud beside this one)
 * must leave it identical; a deliberate change to the Google resources updates the snapshot in the
 * same commit (`npx vitest run test/infra/registrations.test.ts -u`), so the diff shows it.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { InvokeAnswers, WireRegistration } from "./harness.js";
import { fakeBundle, PROJECT_NUMBER, previewEntryUnderMocks } from "./harness.js";
import { StackFile } from "./stack-file.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const SENDGRID_KEY = "SG.registrations-snapshot-key";

const invokes: InvokeAnswers = {
  "gcp:organizations/getProject:getProject": (args) => ({
    projectId: args.projectId,
    number: PROJECT_NUMBER,
    name: args.projectId,
  }),
};

/** The bundle's folder is a fresh temporary one per run: its path is the one thing normalized. */
function normalized(registrations: readonly WireRegistration[], bundleDir: string): unknown {
  const text = JSON.stringify(registrations, null, 2);
  return JSON.parse(text.split(bundleDir).join("<bundle>"));
}

describe("the Google stack's registrations", () => {
  it("when the dev stack is previewed under mocks, then it registers exactly the pinned resources", async () => {
    vi.resetModules();
    const bundleDir = fakeBundle("exports.pinned = true;\n");
    const config = StackFile.read(join(ROOT, "Pulumi.dev.yaml"), "scheduled-jobs")
      .set("scheduled-jobs:sendgridApiKey", SENDGRID_KEY, { secret: true })
      .set("scheduled-jobs:function.sourceDir", bundleDir, { path: true })
      .runConfig();
    const { registrations, exports } = await previewEntryUnderMocks(
      config.config,
      config.secretKeys,
      invokes,
      "dev",
    );
    expect(registrations.length).toBeGreaterThan(40);
    const snapshot = { exports, registrations: normalized(registrations, bundleDir) };
    await expect(`${JSON.stringify(snapshot, null, 2)}\n`).toMatchFileSnapshot(
      "./fixtures/gcp-dev-registrations.json",
    );
  }, 60_000);
});
