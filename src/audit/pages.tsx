import type { AuditEntry } from './audit'
import { describeTerm } from './search-terms'
import { href } from '../ui/paths'

/** What the page shows of an actor: the address while the account exists, else its id. */
function actorOf(e: AuditEntry): string {
  if (e.actorEmail) return e.actorEmail
  return e.actorId ? `a deleted account (${e.actorId})` : 'Masthead'
}

/** The details, with each typed term in a filter shown as "a search (hash …)" rather than its stored form. */
function detailsOf(e: AuditEntry): string {
  const details = e.details as Record<string, unknown>
  const filter = details.filter
  if (!filter || typeof filter !== 'object') return JSON.stringify(details)
  const shown = Object.fromEntries(
    Object.entries(filter).map(([key, value]) => [key, describeTerm(value, key === 'q' ? 'a search' : 'typed text')]),
  )
  return JSON.stringify({ ...details, filter: shown })
}

export function AuditPage(props: { entries: AuditEntry[]; nextBefore: number | null }) {
  return (
    <>
      <h1>Audit log</h1>
      <p>
        Every view of a supporter's details, every export, every change to roles, tiers and comps, every erasure, and
        every second membership Masthead cancelled and refunded. Searches are kept as a hash, never as typed.
      </p>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">When (UTC)</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Supporter</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {props.entries.map((e) => (
              <tr>
                <td>{e.at.toISOString().slice(0, 19).replace('T', ' ')}</td>
                <td>{actorOf(e)}</td>
                <td>{e.action}</td>
                <td>
                  {!e.subjectUserId ? (
                    ''
                  ) : e.action === 'supporter.erased' ? (
                    e.subjectUserId
                  ) : (
                    <a href={href(`/admin/supporters/${e.subjectUserId}`)}>view</a>
                  )}
                </td>
                <td>
                  <code>{detailsOf(e)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.nextBefore ? (
        <p>
          <a href={href(`/admin/audit?before=${props.nextBefore}`)}>Older entries</a>
        </p>
      ) : null}
    </>
  )
}
