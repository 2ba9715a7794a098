// Session, Core/echo, upload and download through jmap-jam; prints what it saw as JSON.
import { JamClient } from "jmap-jam";
import { createHash } from "node:crypto";

const jam = new JamClient({ sessionUrl: process.env.SESSION_URL, bearerToken: process.env.TOKEN });
const session = await jam.session;
// getPrimaryAccount looks for a mail account; until the server has mail, take the core one.
const accountId =
  (await jam.getPrimaryAccount()) ?? session.primaryAccounts["urn:ietf:params:jmap:core"];
const [echo] = await jam.request(["Core/echo", { hello: ["jam", 1, null] }]);

const payload = new Uint8Array(300000).map((_, i) => (i * 7) % 256);
const uploaded = await jam.uploadBlob(accountId, new Blob([payload], { type: "image/png" }));
const response = await jam.downloadBlob({
  accountId, blobId: uploaded.blobId, mimeType: "image/png", fileName: "picture.png",
});
const downloaded = new Uint8Array(await response.arrayBuffer());
const digest = (bytes) => createHash("sha256").update(bytes).digest("hex");

console.log(JSON.stringify({
  username: session.username,
  accountId,
  echo,
  uploaded,
  downloadStatus: response.status,
  downloadType: response.headers.get("content-type"),
  sameBytes: digest(payload) === digest(downloaded),
}));
