// Builds JS components for the tests with componentize-js (npm, installed by `make jstools`).
//
//   node component_js_build.mjs componentize SOURCE.js WIT WORLD OUT.wasm FEATURES
//       componentize-js's own build: splice the WIT bindings into StarlingMonkey, pre-initialise
//       with Wizer (the JS top-level code runs at build time), stub WASI, `component new`.
//   node component_js_build.mjs splice SOURCE.js WIT WORLD OUTDIR FEATURES
//       the same build *without* its pre-initialisation: OUTDIR gets engine.wasm (the spliced core
//       module, never initialised), initializer.js (the generated bindings script) and env.json
//       (the environment componentize-js hands to `componentize.wizer`).
//
// FEATURES: comma-separated componentize-js features to keep (stdio, random, clocks, http, fetch-event).
// The componentize-js package folder is $COMPONENTIZE_JS (tests/component_build.py sets it).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, sourceArg, witArg, worldName, out, featureList] = process.argv.slice(2);
const sourcePath = resolve(sourceArg);
const witPath = resolve(witArg);   // the splicer's file system sees absolute paths only
const root = process.env.COMPONENTIZE_JS;
const features = featureList ? featureList.split(',') : [];
const all = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];
const disableFeatures = all.filter((f) => !features.includes(f));
const jsSource = await readFile(sourcePath, 'utf8');

if (mode === 'componentize') {
  const { componentize } = await import(pathToFileURL(join(root, 'src', 'componentize.js')));
  const { component } = await componentize(jsSource, { witPath, worldName, disableFeatures });
  await writeFile(out, component);
} else if (mode === 'splice') {
  const { splicer } = await import(pathToFileURL(join(root, 'lib', 'spidermonkey-embedding-splicer.js')));
  const engine = await readFile(join(root, 'lib', 'starlingmonkey_embedding.wasm'));
  const { wasm, jsBindings, exports, imports } = splicer.spliceBindings(
    engine, features, undefined, witPath, worldName, false);
  // the environment of componentize.js (0.23.0) for its Wizer run, the same keys and values
  const env = {
    DEBUG: '', SOURCE_NAME: 'source.js', EXPORT_CNT: String(exports.length),
    FEATURE_CLOCKS: features.includes('clocks') ? '1' : '',
  };
  for (const [idx, [name, expt]] of exports.entries()) {
    env[`EXPORT${idx}_NAME`] = name;
    env[`EXPORT${idx}_ARGS`] = (expt.paramptr ? '*' : '') + expt.params.join(',');
    env[`EXPORT${idx}_RET`] = (expt.retptr ? '*' : '') + (expt.ret || '');
    env[`EXPORT${idx}_RETSIZE`] = String(expt.retsize);
  }
  for (let i = 0; i < imports.length; i++) {
    env[`IMPORT${i}_NAME`] = imports[i][1];
    env[`IMPORT${i}_ARGCNT`] = String(imports[i][2]);
  }
  env.IMPORT_CNT = String(imports.length);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'engine.wasm'), wasm);
  await writeFile(join(out, 'initializer.js'), jsBindings);
  await writeFile(join(out, 'env.json'), JSON.stringify(env));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
