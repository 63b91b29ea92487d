// B2 peer: HubSpot's official Node SDK (@hubspot/api-client) doing the benchmark's work.
//
// PEER_CALLS contact upserts by email (one contact per call, the SDK's batch upsert with one
// input: HubSpot's v3 way to upsert by email) then PEER_CALLS single-sends, one after the
// other, on one reused client, against HUBSPOT_BASE_URL with the static token HUBSPOT_TOKEN.
// PEER_CALLS=0 loads the SDK, builds the client and exits: the start-up cost.
//
// The SDK's own limiter (Bottleneck, 9 requests/s by default) stays in the path but is
// opened up (no minimum spacing) so that, like the other clients, it never waits; retries
// stay at the SDK's default (none).

import { readFileSync } from "node:fs";

import { Client } from "@hubspot/api-client";

const EMAIL_ID = 1001;

async function main() {
  const baseUrl = (process.env.HUBSPOT_BASE_URL ?? "").replace(/\/+$/, "");
  const token = process.env.HUBSPOT_TOKEN;
  const calls = Number.parseInt(process.env.PEER_CALLS ?? "", 10);
  if (!baseUrl || !token || !Number.isInteger(calls) || calls < 0) {
    console.error("peer: HUBSPOT_BASE_URL, HUBSPOT_TOKEN and PEER_CALLS must be set");
    return 2;
  }
  const client = new Client({
    accessToken: token,
    basePath: baseUrl,
    limiterOptions: { minTime: 0, maxConcurrent: 1 },
  });
  const batchApi = client.crm.contacts.batchApi;
  const singleSendApi = client.marketing.transactional.singleSendApi;
  for (let i = 0; i < calls; i++) {
    const email = `peer${i}@example.com`;
    const result = await batchApi.upsert({
      inputs: [
        {
          id: email,
          idProperty: "email",
          properties: { email, firstname: `First${i}`, lastname: `Last${i}` },
        },
      ],
    });
    if (!result.results?.[0]?.id) {
      console.error(`peer: upsert ${i}: no id in the response`);
      return 1;
    }
  }
  for (let i = 0; i < calls; i++) {
    const status = await singleSendApi.sendEmail({
      emailId: EMAIL_ID,
      message: { to: `peer${i}@example.com`, sendId: `peer-send-${i}` },
      contactProperties: { firstname: "Ada" },
    });
    if (!status.statusId) {
      console.error(`peer: single-send ${i}: no statusId in the response`);
      return 1;
    }
  }
  console.log(`ok ${calls} upserts, ${calls} sends`);
  console.log(`peak_rss_kib ${peakRssKib()}`);
  return 0;
}

// This process's peak resident set (VmHWM), in KiB; 0 where /proc is missing.
function peakRssKib() {
  try {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmHWM:"));
    return line ? Number.parseInt(line.split(/\s+/)[1], 10) : 0;
  } catch {
    return 0;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`peer: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
