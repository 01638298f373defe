import * as v from "valibot";

/**
 * A JSON answer checked against its schema in the wire contract
 * (src/contract), which the CLI validates with: typed at compile time, and
 * parsed at run time, so nothing the contract does not name is sent.
 */
export function toWire<S extends v.GenericSchema>(schema: S, body: v.InferInput<S>): v.InferOutput<S> {
  return v.parse(schema, body);
}
