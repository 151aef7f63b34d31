/**
 * The Node server's log writer: lines are gathered and written to stdout at most every 20 ms (or
 * sooner, past 64 KiB), not one write per line on the request's own path; under load a batch holds
 * the lines of many requests (a write per turn of the event loop still cost about 1.5 % of the
 * server's CPU in the webhooks bench). A warning or an error is written at once, to
 * stderr, after whatever was gathered before it, so the order in which things happened is kept.
 * Nothing is dropped on the way out: the process's `exit` writes what is left, synchronously,
 * whatever ended it (a signal handled by src/node.ts, an uncaught error, the event loop running dry).
 * Node only: the Worker logs through the console, per invocation.
 */
import { writeSync } from 'node:fs'
import type { LogLevel, LogSink } from './log'

const FLUSH_AT = 64 * 1024
/** How long a line may wait to be written, at most: a process that dies unhandled still writes it on exit. */
const FLUSH_AFTER_MS = 20

export interface BatchedLogSink extends LogSink {
  /** Writes what has been gathered, now. */
  flush(): void
  /** Stops flushing on exit (tests); what is pending is written first. */
  close(): void
}

export function batchedLogSink(fds: { out: number; err: number } = { out: 1, err: 2 }): BatchedLogSink {
  let pending = ''
  let timer: NodeJS.Timeout | null = null
  const write = (fd: number, text: string) => {
    let buffer = Buffer.from(text)
    // writeSync writes what it can: a pipe whose reader is slow takes a batch in pieces.
    while (buffer.length > 0) {
      try {
        buffer = buffer.subarray(writeSync(fd, buffer))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return // stdout closed: nowhere to write
      }
    }
  }
  const flush = () => {
    if (timer) clearTimeout(timer)
    timer = null
    if (pending === '') return
    const text = pending
    pending = ''
    write(fds.out, text)
  }
  process.on('exit', flush)
  return {
    write(level: LogLevel, line: string) {
      if (level !== 'info') {
        flush()
        write(fds.err, `${line}\n`)
        return
      }
      pending += `${line}\n`
      if (pending.length >= FLUSH_AT) flush()
      // Unref'd: a process with nothing else to do ends at once, and `exit` writes what waits.
      else timer ??= setTimeout(flush, FLUSH_AFTER_MS).unref()
    },
    flush,
    close() {
      flush()
      process.off('exit', flush)
    },
  }
}
