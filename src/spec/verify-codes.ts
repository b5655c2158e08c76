/** Every code the verifier can report, with what it means; docs/spec.md lists them. */
export const VERIFY_CODES = {
  // the schema derived from the opcode table
  unknown_opcode: 'an instruction names an opcode the table does not have',
  missing_field: 'a required field or operand is absent',
  unknown_field: 'a field or operand the format does not have',
  missing_operand: 'none of the operands of which one is needed is present',
  bad_value: 'a value outside the allowed set',
  bad_type: 'a value of the wrong JSON type',
  bad_name: 'a register, slot, namespace or procedure name that is not an identifier',
  schema: 'any other departure from the image schema',
  too_deep: 'the image nests deeper than the verifier reads',
  // linking
  too_large: 'linking would make more procedure instances than the verifier allows',
  entry_missing: 'the entry procedure does not exist',
  entry_static: 'the entry procedure takes static parameters',
  unknown_procedure: 'a call names a procedure neither the image nor the standard library has',
  missing_static: 'a call does not bind a static parameter the procedure declares',
  unknown_static: 'a call binds a static parameter the procedure does not declare',
  // semantics
  undefined_register: 'a register may be read before it is set on some path',
  unbound_static: 'an operand names a static parameter ($name) that nothing binds',
  unknown_slot: 'a model slot the image does not declare under models',
  unknown_namespace: 'a tool namespace the image does not declare under tools',
  unbounded_loop: 'a loop bound that is not an integer from 1 to the maximum',
  break_outside_loop: 'break or continue outside any loop',
  missing_argument: 'a call does not pass a parameter the procedure declares',
  unknown_argument: 'a call passes a parameter the procedure does not declare',
  recursive_call: 'procedures call each other in a cycle, which no bound limits',
  unknown_input: 'an entry parameter that the image does not declare under inputs',
  bad_schema: 'a schema operand that the JSON Schema validator cannot compile',
  permission_not_requested: 'an instruction uses a resource the image does not request',
  stray_operand: 'an operand that the others given leave without meaning',
  bad_uri: 'a literal resource URI the machine would refuse to send',
} as const;

export type VerifyCode = keyof typeof VERIFY_CODES;
