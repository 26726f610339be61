/** @type {import('jest').Config} */
const base = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
};

module.exports = {
  testTimeout: 20000,
  projects: [
    { ...base, displayName: 'nestmq', roots: ['<rootDir>/test'], testMatch: ['**/*.test.ts'] },
    {
      // The conformance suite again, every broker on a fresh SQLite database: acknowledgements
      // then wait for the group commit while QoS 0/1 deliveries do not, and the spec must still hold.
      ...base,
      displayName: 'conformance-sqlite',
      roots: ['<rootDir>/test/conformance'],
      testMatch: ['**/[0-9][0-9]-*.test.ts'],
      setupFiles: ['<rootDir>/test/helpers/sqlite-backend.setup.js'],
    },
  ],
};
