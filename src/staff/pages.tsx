import { Field } from '../ui/field'
import { href } from '../ui/paths'

/** `user`: the signed-in member of staff, the address decrypted. */
export function StaffHome(props: { user: { email: string; role: string } }) {
  return (
    <>
      <h1>Staff</h1>
      <p>
        Signed in as {props.user.email} ({props.user.role}).
      </p>
      <ul>
        <li>
          <a href={href('/admin/supporters')}>Supporters</a>
        </li>
        <li>
          <a href={href('/admin/metrics')}>Metrics</a>
        </li>
        <li>
          <a href={href('/admin/articles')}>Articles</a>
        </li>
        {props.user.role === 'admin' ? (
          <>
            <li>
              <a href={href('/admin/staff')}>Editors and admins</a>
            </li>
            <li>
              <a href={href('/admin/tiers')}>Tiers</a>
            </li>
            <li>
              <a href={href('/admin/statements')}>Year-end statements</a>
            </li>
            <li>
              <a href={href('/admin/imports/patreon')}>Import from Patreon</a>
            </li>
            <li>
              <a href={href('/admin/imports/ghost')}>Import from Ghost</a>
            </li>
            <li>
              <a href={href('/admin/audit')}>Audit log</a>
            </li>
          </>
        ) : null}
      </ul>
    </>
  )
}

export function StaffPage(props: {
  staff: { id: string; email: string; role: string }[]
  error?: string | undefined
  email?: string | undefined
}) {
  return (
    <>
      <h1>Editors and admins</h1>
      <p>
        Editors see supporters and write articles. Admins also manage staff; they are set by <code>ADMIN_EMAILS</code>.
      </p>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">E-mail</th>
              <th scope="col">Role</th>
              <th scope="col">
                <span class="muted">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.staff.map((member) => (
              <tr>
                <td>{member.email}</td>
                <td>{member.role}</td>
                <td>
                  {member.role === 'editor' ? (
                    <form method="post" action={href('/admin/staff')} class="inline">
                      <input type="hidden" name="email" value={member.email} />
                      <input type="hidden" name="role" value="reader" />
                      <button type="submit">Remove editor role</button>
                    </form>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <section aria-labelledby="promote-heading">
        <h2 id="promote-heading">Make someone an editor</h2>
        <p>They must have signed in once, so that their account exists.</p>
        <form method="post" action={href('/admin/staff')} novalidate>
          <Field
            id="promote-email"
            name="email"
            type="email"
            label="Their e-mail address"
            required
            value={props.email}
            error={props.error}
          />
          <input type="hidden" name="role" value="editor" />
          <p>
            <button type="submit">Make editor</button>
          </p>
        </form>
      </section>
    </>
  )
}
