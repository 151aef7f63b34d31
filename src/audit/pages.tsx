import type { AuditEntry } from './audit'
import { href } from '../ui/paths'

export function AuditPage(props: { entries: AuditEntry[]; nextBefore: number | null }) {
  return (
    <>
      <h1>Audit log</h1>
      <p>
        Every view of a supporter's details, every export, every change to roles, tiers and comps, and every second
        membership Masthead cancelled and refunded.
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
                <td>{e.actorEmail ?? 'Masthead'}</td>
                <td>{e.action}</td>
                <td>{e.subjectUserId ? <a href={href(`/admin/supporters/${e.subjectUserId}`)}>view</a> : ''}</td>
                <td>
                  <code>{JSON.stringify(e.details)}</code>
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
