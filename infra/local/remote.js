// The local remote: json-server 0.17.4 as its CLI serves a db file (same router, same
// defaults: logger, CORS, body parser), except that each write reaches the file before the
// answer. The CLI stores through lowdb's FileAsync, which answers first and writes after, so
// a json-server killed right after a 2xx forgets a write it acknowledged: no client can
// repair that (it is drift, which only a reconcile against the remote would find), and
// `make chaos`, which kills the remote at random, would count it as the sync's loss. Given
// a path, json-server's router stores through FileSync instead (a synchronous write on each
// change, before the answer is sent).
//
// node infra/local/remote.js --host 127.0.0.1 --port 3001 db.json
const jsonServer = require("json-server");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const file = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")).pop();
if (!file) {
  console.error("usage: node remote.js --host HOST --port PORT DB_FILE");
  process.exit(2);
}
const host = option("host", "127.0.0.1");
const port = Number(option("port", "3000"));

const app = jsonServer.create();
app.use(jsonServer.defaults({ logger: true, bodyParser: true }));
app.use(jsonServer.router(file));
app.listen(port, host, () => {
  console.log(`json-server 0.17 (writes before answering) on http://${host}:${port}, db ${file}`);
});
