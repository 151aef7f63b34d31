import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, cpus, loadavg, release, totalmem, type } from 'node:os'
import type { Benchmark, Row } from './lib'

export interface BenchRun {
  benchmark: Benchmark
  started: Date
  /** Taken when the run starts, so the load average is not the benchmark's own. */
  machine: string
  notes: string[]
  rows: Row[]
  /** Further tables, after the main one, each under its title. */
  tables: { title: string; rows: Row[] }[]
}

export function machineFacts(): string {
  const list = cpus()
  const memory = (totalmem() / 1024 ** 3).toFixed(1)
  // Other work on the machine moves the figures; the load average shows whether there was any.
  const load = loadavg()[0]?.toFixed(2) ?? '?'
  return `${list[0]?.model.trim() ?? 'unknown CPU'} × ${list.length} CPUs, ${memory} GiB memory, ${type()} ${release()} ${arch()}, Node ${process.version}, load average ${load} at start`
}

function cell(value: string | number): string {
  if (typeof value === 'string') return value
  return Number.isInteger(value)
    ? value.toLocaleString('en-US')
    : value.toLocaleString('en-US', { maximumFractionDigits: 2 })
}

function columns(rows: Row[]): string[] {
  return [...new Set(rows.flatMap((row) => Object.keys(row)))]
}

export function terminalTable(rows: Row[]): string {
  const heads = columns(rows)
  const body = rows.map((row) => heads.map((head) => cell(row[head] ?? '')))
  const widths = heads.map((head, i) => Math.max(head.length, ...body.map((line) => line[i]?.length ?? 0)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')
  return [line(heads), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')
}

function markdownTable(rows: Row[]): string {
  const heads = columns(rows)
  // Figures right-aligned so digits line up in rendered and raw Markdown alike.
  const align = heads.map((head) => (rows.every((row) => typeof row[head] !== 'number') ? ':--' : '--:'))
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(heads), line(align), ...rows.map((row) => line(heads.map((head) => cell(row[head] ?? ''))))].join('\n')
}

const start = (name: string) => `<!-- bench:${name} -->`
const end = (name: string) => `<!-- /bench:${name} -->`

export function renderSection(run: BenchRun): string {
  const { benchmark } = run
  const when = run.started.toISOString().replace('T', ' ').slice(0, 16)
  return [
    start(benchmark.name),
    `## ${benchmark.name}`,
    '',
    benchmark.description,
    '',
    `Measured ${when} UTC on ${run.machine}.`,
    '',
    ...run.notes.map((note) => `- ${note}`),
    '',
    markdownTable(run.rows),
    ...run.tables.flatMap((table) => ['', `**${table.title}**`, '', markdownTable(table.rows)]),
    end(benchmark.name),
  ].join('\n')
}

function existingSections(text: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const match of text.matchAll(/<!-- bench:([\w-]+) -->[\s\S]*?<!-- \/bench:\1 -->/g)) {
    if (match[1]) found.set(match[1], match[0])
  }
  return found
}

/**
 * Rewrites the file with fresh sections for the benchmarks just run and the
 * previous text for the others, so running one benchmark keeps the rest.
 * Sections of benchmarks that no longer exist are dropped.
 */
export function writeBenchmarksFile(path: string, order: string[], fresh: Map<string, string>): void {
  const previous = existsSync(path) ? existingSections(readFileSync(path, 'utf8')) : new Map<string, string>()
  const sections = order.flatMap((name) => fresh.get(name) ?? previous.get(name) ?? [])
  const header = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); `npm run bench -- <name>` refreshes one section.',
    'Each section is regenerated from bench/, so change the benchmark rather than this file.',
    'Each section says when and on what machine it was measured; compare figures within a section.',
    '',
    'These machines are shared virtual machines, and the same code measures differently from one to the next',
    'and within one: on 2026-12-01, COPY of the same 50,000 rows took 0.45 s in one run and 0.79 s in another',
    'minutes later, and one version of the Patreon commit 4.9 s and 7.8 s. A section is one run; where a target is close, run it again.',
  ].join('\n')
  writeFileSync(path, `${[header, ...sections].join('\n\n')}\n`)
}
