// Validates custom resources against the OpenAPI schemas of their CRDs, compiled into the @kubernetes-models
// packages: reads a JSON array of resources on stdin, prints one line per resource, exits 1 if any is invalid
// or of a kind it has no schema for. Unknown fields are not reported (the CRDs' schemas allow them).
import { readFileSync } from "node:fs";
import * as gateway from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";

const models = { "gateway.networking.k8s.io/v1": gateway, "keda.sh/v1alpha1": keda };
let failed = 0;
for (const doc of JSON.parse(readFileSync(0, "utf8"))) {
  const where = `${doc.kind}/${doc.metadata?.name}`;
  const Model = models[doc.apiVersion]?.[doc.kind];
  if (!Model) {
    console.log(`${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`${where}: valid`);
  } catch (error) {
    console.log(`${where}: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
