// Lint: the rules that catch real bugs (a promise nobody awaits, a switch
// that misses a case, an import cycle) and the boundaries of the code:
//   core/     the kernel: imports lib/ only (never a plugin or the CLI)
//   lib/      shared code (DLP, hosts, sanitising, the git config): imports nothing of ours above it
//   plugins/X imports core/, lib/, its own files, and other plugins' index.ts only
//   cli/      imports core/, lib/ and plugins' index.ts only
import { readdirSync } from 'node:fs';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const plugins = readdirSync(new URL('./plugins/', import.meta.url), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

const zones = [
  { target: './core', from: ['./plugins', './cli'], message: 'core/ never imports plugins or the CLI; move shared code to lib/' },
  { target: './lib', from: ['./core', './plugins', './cli'], message: 'lib/ is below core/ and plugins/: it imports neither' },
  ...plugins.map((p) => ({
    target: `./plugins/${p}`,
    from: './plugins',
    except: [`./${p}`, ...plugins.filter((o) => o !== p).map((o) => `./${o}/index.ts`)],
    message: "a plugin imports another plugin's index.ts only; shared code goes to lib/",
  })),
  { target: ['./plugins', './core', './lib'], from: './cli', message: 'only the CLI imports the CLI' },
  {
    target: './cli',
    from: './plugins',
    except: ['./index.ts', ...plugins.map((o) => `./${o}/index.ts`)],
    message: "the CLI imports plugins' index.ts only",
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/fixtures/lint/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'vitest.config.ts', 'bottle.config.ts'] }, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    settings: { 'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js', '.mjs'] })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
    },
  },
  {
    // Tests and benches may reach into any module they test.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': 'off' },
  },
);
