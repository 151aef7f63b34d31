import type { ImportPlan } from './patreon-import'
import { href } from '../ui/paths'

export function PatreonUploadPage(props: { error?: string | undefined; notice?: string | undefined }) {
  return (
    <>
      <h1>Import patrons from Patreon</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <p>
        On Patreon, open <strong>Audience → Relationship manager</strong> and export your members as CSV. Upload it
        here: you will see what the import would do, and choose which Masthead tier each Patreon tier becomes, before
        anything is saved. Addresses, phone numbers, Discord and Twitter names and "Additional Details" in the file are
        never read or kept.
      </p>
      <form method="post" action={href('/admin/imports/patreon')} enctype="multipart/form-data">
        <label for="file">Patreon members CSV</label>
        <input id="file" name="file" type="file" accept=".csv,text/csv" required />
        <p>
          <button type="submit">Preview the import</button>
        </p>
      </form>
      <h2>Invitations</h2>
      <form method="post" action={href('/admin/imports/patreon-invitations')}>
        <p>
          E-mail imported active patrons who have not moved yet a link to continue through Stripe, their tier already
          chosen (100 at a time, a batch a minute).
        </p>
        <button type="submit">Send the next invitations</button>
      </form>
    </>
  )
}

export function PatreonPreviewPage(props: {
  batchId: string
  plan: ImportPlan
  tiers: { id: string; name: string }[]
  error?: string | undefined
}) {
  const { plan } = props
  const shown = plan.rejected.slice(0, 200)
  return (
    <>
      <h1>Preview: Patreon import</h1>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <p role="status">
        {plan.counts.new} new, {plan.counts.updated} updated, {plan.counts.unchanged} unchanged, {plan.counts.rejected}{' '}
        rejected. Nothing has been saved yet.
      </p>
      <form method="post" action={href(`/admin/imports/patreon/${props.batchId}`)}>
        {plan.tiers.length > 0 ? (
          <fieldset>
            <legend>Which Masthead tier is each Patreon tier?</legend>
            {plan.tiers.map((t, i) => (
              <div>
                <label for={`map-${i}`}>
                  {t.name} ({t.rows} {t.rows === 1 ? 'patron' : 'patrons'})
                </label>
                <input type="hidden" name="patreon_tier" value={t.name} />
                <select id={`map-${i}`} name="masthead_tier">
                  <option value="">Not mapped (those rows are rejected)</option>
                  {props.tiers.map((tier) => (
                    <option value={tier.id} selected={t.mappedTo === tier.id}>
                      {tier.name}
                    </option>
                  ))}
                </select>
              </div>
            ))}
          </fieldset>
        ) : null}
        <p>
          <button type="submit" name="action" value="preview">
            Update the preview
          </button>{' '}
          <button type="submit" name="action" value="commit" disabled={plan.counts.rejected > 0}>
            Import {plan.planned.length} {plan.planned.length === 1 ? 'row' : 'rows'}
          </button>
        </p>
        {plan.counts.rejected > 0 ? <p>Nothing can be imported while any row is rejected.</p> : null}
      </form>
      {shown.length > 0 ? (
        <section aria-labelledby="rejected">
          <h2 id="rejected">Rejected rows</h2>
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr>
                    <td>{r.line}</td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {plan.rejected.length > shown.length ? <p>And {plan.rejected.length - shown.length} more.</p> : null}
        </section>
      ) : null}
      <p>
        <a href={href('/admin/imports/patreon')}>Start again</a>
      </p>
    </>
  )
}
