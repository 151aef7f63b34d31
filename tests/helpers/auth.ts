import { expect } from 'vitest'
import type { App } from '../../src/app'

/** The newest development-mailbox message to an address (found by its index), and the token in its link. */
export async function lastMailTo(app: App, email: string) {
  const res = await app.request(`/dev/mailbox.json?to=${encodeURIComponent(email)}`)
  const { messages } = (await res.json()) as { messages: { to: string; subject: string; text: string; html: string }[] }
  const message = messages.find((m) => m.to === email)
  const token = message?.text.match(/\/auth\/verify\?token=([\w-]+)/)?.[1]
  return { message, token, count: messages.filter((m) => m.to === email).length }
}

let clients = 0

/** A new client address for each call, so that tests do not trip the per-IP limit unless they mean to. */
export function nextClientIp(): string {
  clients += 1
  return `10.${Math.floor(clients / 250)}.${clients % 250}.1`
}

export async function requestLink(
  app: App,
  email: string,
  init: { next?: string; headers?: Record<string, string> } = {},
) {
  return app.request('/auth/sign-in', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': nextClientIp(), ...init.headers },
    body: JSON.stringify({ email, ...(init.next ? { next: init.next } : {}) }),
  })
}

export function confirmLink(app: App, token: string, headers: Record<string, string> = {}) {
  return app.request('/auth/verify', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ token }),
  })
}

/** The session cookie ("masthead_session=…") a response sets, or undefined. */
export function sessionCookie(res: Response): string | undefined {
  const header = res.headers.getSetCookie().find((c) => c.startsWith('masthead_session='))
  return header?.split(';')[0]
}

/** Signs in through the real flow (form, mailbox, link, button) and returns the cookie. */
export async function signIn(app: App, email: string): Promise<string> {
  const res = await requestLink(app, email)
  expect(res.status).toBe(202)
  const { token } = await lastMailTo(app, email.toLowerCase())
  expect(token).toBeTruthy()
  const confirmed = await confirmLink(app, token!)
  expect(confirmed.status).toBe(303)
  const cookie = sessionCookie(confirmed)
  expect(cookie).toBeTruthy()
  return cookie!
}
