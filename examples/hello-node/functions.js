// One module exporting every function, as in the original eserveless.
// `meta` keys of .eserveless.yaml arrive as ESERVELESS_<KEY>.

// http: a Node request listener; the path is the part after the function URL.
function API(req, res) {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ message: `${process.env.ESERVELESS_GREETING}, world`, method: req.method, path: req.url }));
}

// cron: called once per run with the ESERVELESS_* variables; what it prints is the run's output.
function Report(envs) {
  console.log(`report for ${envs.ESERVELESS_TARGET} at ${new Date().toISOString()}`);
}

module.exports = { API, Report };
