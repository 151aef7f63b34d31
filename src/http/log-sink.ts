/**
 * The Node server's log writer: lines are gathered and written to stdout in one write per turn of
 * the event loop (or sooner, past 64 KiB), not one write per line on the request's own path; under
 * load a batch holds the lines of many requests. A warning or an error is written at once, to
 * stderr, after whatever was gathered before it, so the order in which things happened is kept.
 * Nothing is dropped on the way out: the process's `exit` writes what is left, synchronously,
 * whatever ended it (a signal handled by src/node.ts, an uncaught error, the event loop running dry).
 * Node only: the Worker logs through the console, per invocation.
 */
import { writeSync } from 'node:fs'
import type { LogLevel, LogSink } from './log'

const FLUSH_AT = 64 * 1024

export interface BatchedLogSink extends LogSink {
  /** Writes what has been gathered, now. */
  flush(): void
  /** Stops flushing on exit (tests); what is pending is written first. */
  close(): void
}

export function batchedLogSink(fds: { out: number; err: number } = { out: 1, err: 2 }): BatchedLogSink {
  let pending = ''
  let scheduled = false
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
    scheduled = false
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
      else if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    flush,
    close() {
      flush()
      process.off('exit', flush)
    },
  }
}
