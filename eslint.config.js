// Lint rules: the recommended sets, plus a ban on `any` so module boundaries stay typed.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'certs/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The playground page's script runs in the browser, not in Node.
    files: ['playground/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['window', 'document', 'history', 'location', 'fetch', 'AbortController', 'setTimeout', 'clearTimeout'].map((name) => [name, 'readonly'])),
    },
  },
);
