import { load, packageVersion, START_COMMAND, withServer, type Benchmark, type Row } from './lib'

const CONNECTIONS = 50
const SECONDS = 10
const WARMUP_SECONDS = 2

// /healthz costs one `select 1`; the stylesheet costs no database at all, so
// the pair separates the HTTP stack from the database round trip.
const ROUTES = ['/healthz', '/assets/style.css']

export default {
  name: 'http',
  description:
    'Requests per second of the Node server on two cheap GET routes: `/healthz` (one `select 1`) and `/assets/style.css` (static, no database).',
  async run(ctx) {
    ctx.note(
      `Load: autocannon ${packageVersion('autocannon')}, called from bench/run.ts on the same machine as the server, ` +
        `${CONNECTIONS} connections, no pipelining, ${SECONDS} s per route after a ${WARMUP_SECONDS} s warm-up whose figures are discarded.`,
    )
    ctx.note(
      `Server: \`${START_COMMAND}\` (what \`npm start\` runs) as a child process on 127.0.0.1, one server start per database; ` +
        'it writes one log line per request, to a file.',
    )
    ctx.note(
      "Req/s mean and p50 are over autocannon's one-second samples; latency percentiles are autocannon's (whole milliseconds).",
    )

    const rows: Row[] = []
    for (const target of ctx.databases) {
      await withServer(target, async (server) => {
        ctx.note(`${target.name}: ${server.database}.`)
        for (const route of ROUTES) {
          ctx.log(`${target.name} GET ${route}: ${WARMUP_SECONDS} s warm-up, then ${SECONDS} s`)
          const r = await load(`${server.url}${route}`, {
            connections: CONNECTIONS,
            seconds: SECONDS,
            warmupSeconds: WARMUP_SECONDS,
          })
          rows.push({
            Database: target.name,
            Route: `GET ${route}`,
            'Req/s mean': Math.round(r.requestsPerSecond),
            'Req/s p50': Math.round(r.requestsPerSecondP50),
            'Latency p50 (ms)': r.latencyP50Ms,
            'Latency p99 (ms)': r.latencyP99Ms,
            Requests: r.requests,
            'Non-2xx': r.non2xx,
            Errors: r.errors,
          })
          // Throughput of error responses measures nothing worth keeping.
          if (r.non2xx > 0 || r.errors > 0) {
            ctx.fail(
              `${target.name} GET ${route}: ${r.non2xx} non-2xx responses and ${r.errors} connection errors ` +
                `(status counts ${JSON.stringify(r.statusCodes)}). Server output:\n${server.logTail(10)}`,
            )
          }
        }
      })
    }
    return rows
  },
} satisfies Benchmark
