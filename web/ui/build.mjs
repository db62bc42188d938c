// Builds dist/: hashed, minified assets, an index.html naming them, and
// gzip/brotli copies of each so the server never compresses at request time.
// The output must be byte-for-byte reproducible: check.sh fails when the
// committed dist/ differs from a fresh build.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = 'dist';
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => relative(dist, p));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) {
  throw new Error(`build produced no js or css: ${outputs.join(', ')}`);
}

const template = readFileSync('index.html', 'utf8');
const html = template
  .replace('<!--CSS-->', `<link rel="stylesheet" href="/${css}">`)
  .replace('<!--JS-->', `<script type="module" src="/${js}"></script>`);
writeFileSync(join(dist, 'index.html'), html);

const walk = (dir) =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

let gzTotal = 0;
for (const file of walk(dist)) {
  const body = readFileSync(file);
  const gz = gzipSync(body, { level: 9 });
  const br = brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  writeFileSync(`${file}.gz`, gz);
  writeFileSync(`${file}.br`, br);
  gzTotal += gz.length;
  console.log(`${relative(dist, file).padEnd(32)} ${String(body.length).padStart(8)} B  gzip ${String(gz.length).padStart(7)} B  br ${String(br.length).padStart(7)} B`);
}
console.log(`total gzipped: ${(gzTotal / 1024).toFixed(1)} KiB`);
