import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { HTMLRewriter as PackageRewriter } from 'htmlrewriter'
import init, { HTMLRewriter as RawRewriter } from 'htmlrewriter/dist/html_rewriter.js'

type Rewriter = InstanceType<typeof PackageRewriter>
type ElementHandlers = Parameters<Rewriter['on']>[1]
type DocumentHandlers = Parameters<Rewriter['onDocument']>[0]

let ready: Promise<unknown> | undefined
const wasmReady = () =>
  (ready ??= init(
    new WebAssembly.Module(readFileSync(fileURLToPath(import.meta.resolve('htmlrewriter/dist/html_rewriter_bg.wasm')))),
  ))

/**
 * HTMLRewriter on Node: lol-html in WebAssembly (the `htmlrewriter` package's build), with the
 * Workers API Masthead uses (`on`, `onDocument`, `transform`). The package's own wrapper hands on
 * every piece of output lol-html makes as a chunk of its own: 54 for the demo article, some of
 * one byte, and on Node each chunk of a response body is one write on the socket. Here what one
 * piece of the origin's page becomes goes out as one chunk. The origin is read as the reader
 * reads (pull), not as fast as it answers.
 */
export class HTMLRewriter {
  private readonly elements: [string, ElementHandlers][] = []
  private readonly documents: DocumentHandlers[] = []

  on(selector: string, handlers: ElementHandlers): this {
    this.elements.push([selector, handlers])
    return this
  }

  onDocument(handlers: DocumentHandlers): this {
    this.documents.push(handlers)
    return this
  }

  transform(response: Response): Response {
    const source = response.body
    if (source === null) return new Response(null, response)
    const { elements, documents } = this
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
    let rewriter: RawRewriter | undefined
    let parts: Uint8Array[] = []
    let size = 0
    const take = () => {
      const chunk = parts.length === 1 ? parts[0]! : concat(parts, size)
      parts = []
      size = 0
      return chunk
    }
    const free = () => {
      rewriter?.free()
      rewriter = undefined
    }
    const body = new ReadableStream<Uint8Array>(
      {
        async start() {
          await wasmReady()
          rewriter = new RawRewriter(
            (chunk: Uint8Array) => {
              if (chunk.length > 0) {
                parts.push(chunk)
                size += chunk.length
              }
            },
            { enableEsiTags: false },
          )
          for (const [selector, handlers] of elements) rewriter.on(selector, handlers)
          for (const handlers of documents) rewriter.onDocument(handlers)
          reader = source.getReader()
        },
        async pull(controller) {
          try {
            for (;;) {
              const { done, value } = await reader!.read()
              if (done) {
                rewriter!.end()
                free()
                if (size > 0) controller.enqueue(take())
                return controller.close()
              }
              rewriter!.write(value)
              if (size > 0) return controller.enqueue(take())
            }
          } catch (error) {
            free()
            throw error
          }
        },
        async cancel(reason) {
          free()
          await reader?.cancel(reason)
        },
      },
      { highWaterMark: 0 },
    )
    const headers = new Headers(response.headers)
    headers.delete('content-length')
    return new Response(body, { status: response.status, statusText: response.statusText, headers })
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
