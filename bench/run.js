// `npm run bench`: runs every benchmark in bench/ in turn (after `npm run build`).
const suites = process.argv.slice(2);
const all = ['core', 'policies', 'pricing', 'token-accuracy', 'router', 'pump', 'stores', 'ledger', 'redis-policies', 'gateway', 'gateway-policies', 'ai-sdk', 'telemetry'];
for (const name of suites.length ? suites : all) {
  const mod = await import(`./${name}.js`).catch((err) => {
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`bench/${name}.js`)) return null;
    throw err;
  });
  if (!mod) continue;
  await mod.run();
}
