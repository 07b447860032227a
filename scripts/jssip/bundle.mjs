// Bundle JsSIP (node_modules, installed by scripts/fetch-jssip with `npm ci`) into one
// minified browser ES module, with the licences of everything inside it and a note of
// where each piece came from. Run through scripts/fetch-jssip, never by hand.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import esbuild from 'esbuild';

const [outDir] = process.argv.slice(2);
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const jssip = JSON.parse(readFileSync('node_modules/jssip/package.json', 'utf8'));
const base = `jssip-${jssip.version}`;
const outfile = path.join(outDir, `${base}.min.js`);

const result = await esbuild.build({
  entryPoints: ['entry.mjs'],
  outfile,
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  metafile: true,
  legalComments: 'none',
  banner: {
    js: `/*! JsSIP ${jssip.version} (${jssip.homepage}), MIT licence: see ${base}.LICENSE.txt. ` +
      `Bundled with its dependencies as one ES module by scripts/fetch-jssip. */`,
  },
});

// Which npm packages ended up in the bundle.
const packages = [...new Set(Object.keys(result.metafile.inputs)
  .filter((p) => p.startsWith('node_modules/'))
  .map((p) => p.split('/')[1]))].sort();

const licences = [];
const rows = [];
for (const name of packages) {
  const dir = path.join('node_modules', name);
  const meta = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  if (!file) throw new Error(`${name}: no licence file in its npm package`);
  licences.push(`${'='.repeat(78)}\n${name} ${meta.version} (${meta.license})\n` +
    `${'='.repeat(78)}\n\n${readFileSync(path.join(dir, file), 'utf8').trim()}\n`);
  const locked = lock.packages[`node_modules/${name}`];
  rows.push(`| ${name} | ${meta.version} | ${meta.license} | \`${locked.integrity}\` |`);
}
writeFileSync(path.join(outDir, `${base}.LICENSE.txt`),
  `Licences of the npm packages bundled in ${base}.min.js\n\n${licences.join('\n')}`);

const sha256 = createHash('sha256').update(readFileSync(outfile)).digest('hex');
const esbuildVersion = JSON.parse(readFileSync('node_modules/esbuild/package.json', 'utf8')).version;
writeFileSync(path.join(outDir, 'README.md'), `# Vendored JsSIP

\`${base}.min.js\` is JsSIP ${jssip.version} and the npm packages it needs, bundled into
one minified browser ES module (\`import JsSIP from "./${base}.min.js"\`), so installing
the switch needs no Node. Made by \`scripts/fetch-jssip\` (npm ${process.env.npm_version ||
'?'}, Node ${process.version}, esbuild ${esbuildVersion}) from the versions pinned in
\`scripts/jssip/package-lock.json\`:

| package | version | licence | npm integrity |
|---|---|---|---|
${rows.join('\n')}

sha256 of \`${base}.min.js\`: \`${sha256}\`

Licences: \`${base}.LICENSE.txt\`. To update: change the version in
\`scripts/jssip/package.json\`, run \`npm install --package-lock-only\` there, then
\`scripts/fetch-jssip\`, and point \`switch/web/static/phone/\` at the new file.
`);
console.log(`${outfile} (${packages.join(', ')}) sha256 ${sha256}`);
