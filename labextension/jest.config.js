// Jest runs the unit tests of model.ts and the widgets' format.ts (src/__tests__/), compiled by
// ts-jest. Only request.ts, the one module that talks to the server, is mocked in them.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
