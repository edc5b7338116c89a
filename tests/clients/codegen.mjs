// @graphql-codegen/cli configuration: TypeScript types of the schema (the `typescript`
// plugin) and of each operation (`typescript-operations`, importing the schema's types),
// checked with `tsc --strict` by tests/api/test_codegen.py. Paths come from the test.
const { ANXIN_SCHEMA, ANXIN_OPERATIONS, ANXIN_TYPES } = process.env;

export default {
  schema: ANXIN_SCHEMA,
  documents: [`${ANXIN_OPERATIONS}/*.graphql`],
  config: {
    strictScalars: true,
    scalars: { Amount: 'string', Date: 'string', DateTime: 'string', Decimal: 'string', Upload: 'File' },
  },
  generates: {
    [`${ANXIN_TYPES}/schema.ts`]: { plugins: ['typescript'] },
    [`${ANXIN_TYPES}/operations.ts`]: {
      plugins: ['typescript-operations'],
      config: { importSchemaTypesFrom: `${ANXIN_TYPES}/schema.ts` },
    },
  },
};
