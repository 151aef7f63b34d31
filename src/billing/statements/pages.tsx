import type { Job } from '../../jobs/jobs'
import { Field } from '../../ui/field'
import { href } from '../../ui/paths'
import { formatMoney } from '../../util/money'
import { isoDay, kindName, type Issuer, type Statement } from './ledger'
import { describeStatementJob } from './sending'

/** /account/statements: the years with payments, each a link to its statement. */
export function StatementList(props: { years: number[] }) {
  return (
    <>
      <h1>Your statements</h1>
      {props.years.length === 0 ? (
        <p>You have made no payments yet, so there is no statement to show.</p>
      ) : (
        <>
          <p>A statement of every payment you made in a calendar year, for your records and your taxes.</p>
          <ul>
            {props.years.map((year) => (
              <li>
                <a href={href(`/account/statements/${year}`)}>{year}</a>
              </li>
            ))}
          </ul>
        </>
      )}
      <p>
        <a href={href('/account')}>Back to your account</a>
      </p>
    </>
  )
}

/** /account/statements/:year: the printable statement (the stylesheet's print rules leave out the site's furniture). */
export function StatementPage(props: {
  statement: Statement
  issuer: Issuer
  donor: { email: string; name: string | null }
  issuedOn: Date
}) {
  const { statement, issuer, donor } = props
  const { year, hasFeeCover } = statement
  return (
    <article class="statement">
      <p class="no-print">
        <a href={href('/account/statements')}>All your statements</a>. To print this statement or save it as a PDF, use
        your browser’s Print command.
      </p>
      <h1>Statement of payments, {year}</h1>
      <p class="issuer">
        <strong>{issuer.legalName}</strong>
        {issuer.taxId ? (
          <>
            <br />
            Tax id: {issuer.taxId}
          </>
        ) : null}
      </p>
      <dl class="facts">
        <dt>Donor</dt>
        <dd>
          {donor.name ? (
            <>
              {donor.name}
              <br />
            </>
          ) : null}
          {donor.email}
        </dd>
        <dt>Period</dt>
        <dd>
          1 January {year} to 31 December {year}
        </dd>
        <dt>Issued</dt>
        <dd>{isoDay(props.issuedOn)}</dd>
      </dl>
      <h2>Payments</h2>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Kind</th>
              <th scope="col" class="amount">
                Amount
              </th>
              <th scope="col">Currency</th>
              {hasFeeCover ? (
                <th scope="col" class="amount">
                  Of which fee cover
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {statement.lines.map((line) => (
              <tr>
                <td>{isoDay(line.occurredAt)}</td>
                <td>{kindName(line.kind)}</td>
                <td class="amount">{formatMoney(line.amount, line.currency)}</td>
                <td>{line.currency.toUpperCase()}</td>
                {hasFeeCover ? (
                  <td class="amount">{line.feeCover !== 0 ? formatMoney(line.feeCover, line.currency) : ''}</td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Totals per currency</h2>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Currency</th>
              <th scope="col" class="amount">
                Paid
              </th>
              <th scope="col" class="amount">
                Refunded
              </th>
              <th scope="col" class="amount">
                Total
              </th>
              {hasFeeCover ? (
                <th scope="col" class="amount">
                  Of which fee cover
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {statement.totals.map((total) => (
              <tr>
                <th scope="row">{total.currency.toUpperCase()}</th>
                <td class="amount">{formatMoney(total.paid, total.currency)}</td>
                <td class="amount">{formatMoney(total.refunded, total.currency)}</td>
                <td class="amount">{formatMoney(total.net, total.currency)}</td>
                {hasFeeCover ? <td class="amount">{formatMoney(total.feeCover, total.currency)}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="statement-text">{issuer.text}</p>
    </article>
  )
}

const WHEN = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })

/** /admin/statements: send a year's statements, and see how far they have got. */
export function StatementAdminPage(props: {
  years: { year: number; donors: number; sent: number }[]
  jobs: Job[]
  batch: number
  suggestedYear: number
  year?: string | undefined
  notice?: string | undefined
  error?: string | undefined
}) {
  const open = props.jobs.some((job) => job.state === 'queued' || job.state === 'running')
  return (
    <>
      <h1>Year-end statements</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      <p>
        Each donor gets one e-mail with their statement of the year’s payments, and can print it any time from their
        account. The statements go out in the background, {props.batch} a minute; nobody gets two, however often they
        are started.
      </p>
      <form method="post" action={href('/admin/statements')} novalidate>
        <Field
          id="statement-year"
          name="year"
          label="Year"
          value={props.year ?? String(props.suggestedYear)}
          error={props.error}
          required
        />
        <p>
          <button type="submit">Send the statements for this year</button>
        </p>
      </form>
      {props.jobs.length > 0 ? (
        <section aria-labelledby="statement-jobs">
          <h2 id="statement-jobs">Sending</h2>
          <ul>
            {props.jobs.map((job) => (
              <li>
                {WHEN.format(job.createdAt)} UTC: {describeStatementJob(job)}
                {job.lastError ? <span class="error"> {job.lastError}</span> : null}
              </li>
            ))}
          </ul>
          {open ? <p>This runs in the background; reload the page to see how far it has got.</p> : null}
        </section>
      ) : null}
      <section aria-labelledby="statement-years">
        <h2 id="statement-years">Years with payments</h2>
        {props.years.length === 0 ? (
          <p>No payments yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Year</th>
                <th scope="col">Donors</th>
                <th scope="col">Statements sent</th>
              </tr>
            </thead>
            <tbody>
              {props.years.map((y) => (
                <tr>
                  <td>{y.year}</td>
                  <td>{y.donors}</td>
                  <td>{y.sent}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  )
}
