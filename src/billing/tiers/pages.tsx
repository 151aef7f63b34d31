import { formatMoney, toMajorUnits } from '../../util/money'
import { BENEFIT_LABELS, MAX_TRIAL_DAYS, type Tier } from './tiers'
import type { TierPrice } from './prices'
import { OtherPrices, type PriceFormState } from './price-pages'
import { BENEFITS } from '../../db/schema'
import { Field } from '../../ui/field'
import { href } from '../../ui/paths'

/** The tier form's contents as typed (amounts in major units), so a re-rendered form keeps them. */
export interface TierFormValues {
  id: string
  name: string
  description: string
  currency: string
  monthlyAmount: string
  yearlyAmount: string
  position: string
  trialDays: string
  active: boolean
  benefits: string[]
}

export function tierFormValues(tier: Tier): TierFormValues {
  return {
    id: tier.id,
    name: tier.name,
    description: tier.description,
    currency: tier.currency,
    monthlyAmount: toMajorUnits(tier.monthlyAmount, tier.currency),
    yearlyAmount: toMajorUnits(tier.yearlyAmount, tier.currency),
    position: String(tier.position),
    trialDays: String(tier.trialDays),
    active: tier.active,
    benefits: tier.benefits,
  }
}

export const emptyTierForm = (currency: string): TierFormValues => ({
  id: '',
  name: '',
  description: '',
  currency,
  monthlyAmount: '',
  yearlyAmount: '',
  position: '0',
  trialDays: '0',
  active: true,
  benefits: [],
})

/** Whether this server talks to Stripe at all (no STRIPE_SECRET_KEY: it does not). */
export type StripeState = 'configured' | 'not_configured'

const NOTICES: Record<string, string> = {
  created: 'The tier was created.',
  updated: 'The tier was saved.',
  'price-saved': 'The price was saved.',
  'price-removed': 'The price was removed.',
}

const STRIPE_FAILED =
  'The tier was saved, but Stripe could not be updated, so Stripe may still sell the old name or price. ' +
  'Save the tier again to retry, or run npm run stripe:sync.'

export const priceLabel = (amount: number, currency: string, interval: 'month' | 'year') =>
  `${formatMoney(amount, currency)} / ${interval}`

function syncState(tier: Tier, stripe: StripeState): string {
  if (stripe === 'not_configured') return 'Stripe is not configured'
  return tier.stripeProductId && tier.stripeMonthlyPriceId && tier.stripeYearlyPriceId
    ? 'In Stripe'
    : 'Not in Stripe yet'
}

export function TiersPage(props: {
  tiers: Tier[]
  /** The tiers' prices in other currencies. */
  prices: TierPrice[]
  stripe: StripeState
  currencies: readonly string[]
  form: TierFormValues
  errors?: Record<string, string> | undefined
  notice?: string | undefined
  stripeFailed?: boolean
}) {
  const notice = props.notice ? NOTICES[props.notice] : undefined
  return (
    <>
      <h1>Tiers</h1>
      {notice ? <p role="status">{notice}</p> : null}
      {props.stripeFailed ? (
        <p role="alert" class="error">
          {STRIPE_FAILED}
        </p>
      ) : null}
      <p>What readers can buy. Prices are saved here and then made into products and prices in Stripe.</p>
      {props.tiers.length === 0 ? (
        <p>There are no tiers yet.</p>
      ) : (
        <div class="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Tier</th>
                <th scope="col">Price</th>
                <th scope="col">Benefits</th>
                <th scope="col">Active</th>
                <th scope="col">Stripe</th>
              </tr>
            </thead>
            <tbody>
              {props.tiers.map((tier) => (
                <tr>
                  <td>
                    <a href={href(`/admin/tiers/${tier.id}`)}>{tier.name}</a>
                    <br />
                    <span class="muted">{tier.id}</span>
                  </td>
                  <td>
                    {priceLabel(tier.monthlyAmount, tier.currency, 'month')}
                    <br />
                    {priceLabel(tier.yearlyAmount, tier.currency, 'year')}
                    {props.prices
                      .filter((price) => price.tierId === tier.id)
                      .map((price) => (
                        <>
                          <br />
                          <span class="muted">
                            {priceLabel(price.monthlyAmount, price.currency, 'month')},{' '}
                            {priceLabel(price.yearlyAmount, price.currency, 'year')}
                          </span>
                        </>
                      ))}
                  </td>
                  <td>{tier.benefits.map((b) => BENEFIT_LABELS[b] ?? b).join(', ') || 'None'}</td>
                  <td>{tier.active ? 'Yes' : 'No'}</td>
                  <td>{syncState(tier, props.stripe)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <section aria-labelledby="new-tier-heading">
        <h2 id="new-tier-heading">New tier</h2>
        <TierForm
          action={href('/admin/tiers')}
          submit="Create tier"
          isNew
          values={props.form}
          errors={props.errors ?? {}}
          currencies={props.currencies}
        />
      </section>
    </>
  )
}

export function TierEditPage(props: {
  tier: Tier
  stripe: StripeState
  currencies: readonly string[]
  form: TierFormValues
  errors?: Record<string, string> | undefined
  prices: TierPrice[]
  priceForm?: PriceFormState | undefined
  notice?: string | undefined
  stripeFailed?: boolean
}) {
  const { tier } = props
  const notice = props.notice ? NOTICES[props.notice] : undefined
  return (
    <>
      <h1>Tier: {tier.name}</h1>
      {notice ? <p role="status">{notice}</p> : null}
      {props.stripeFailed ? (
        <p role="alert" class="error">
          {STRIPE_FAILED}
        </p>
      ) : null}
      <p>
        <a href={href('/admin/tiers')}>All tiers</a>
      </p>
      <dl>
        <dt>Id</dt>
        <dd>
          <code>{tier.id}</code>
        </dd>
        <dt>Stripe</dt>
        <dd>{syncState(tier, props.stripe)}</dd>
      </dl>
      <p class="muted">
        A changed price is a new price in Stripe: new members pay it, and existing members keep the price they signed up
        at.
      </p>
      <TierForm
        action={href(`/admin/tiers/${tier.id}`)}
        submit="Save tier"
        isNew={false}
        values={props.form}
        errors={props.errors ?? {}}
        currencies={props.currencies}
      />
      <OtherPrices
        tier={tier}
        prices={props.prices}
        currencies={props.currencies}
        stripe={props.stripe}
        form={props.priceForm}
      />
    </>
  )
}

function TierForm(props: {
  action: string
  submit: string
  isNew: boolean
  values: TierFormValues
  errors: Record<string, string>
  currencies: readonly string[]
}) {
  const { values, errors } = props
  const prefix = props.isNew ? 'new-tier' : 'tier'
  const id = (field: string) => `${prefix}-${field}`
  return (
    <form method="post" action={props.action} novalidate>
      {errors.form ? <p class="error">{errors.form}</p> : null}
      {props.isNew ? (
        <Field
          id={id('id')}
          name="id"
          label="Id (in links, e.g. reader)"
          required
          value={values.id}
          error={errors.id}
        />
      ) : null}
      <Field id={id('name')} name="name" label="Name" required value={values.name} error={errors.name} />
      <label for={id('description')}>Description</label>
      <textarea
        id={id('description')}
        name="description"
        rows={3}
        aria-invalid={errors.description ? 'true' : undefined}
        aria-describedby={errors.description ? `${id('description')}-error` : undefined}
      >
        {values.description}
      </textarea>
      <FieldError id={`${id('description')}-error`} error={errors.description} />
      <label for={id('currency')}>Currency</label>
      <select
        id={id('currency')}
        name="currency"
        aria-invalid={errors.currency ? 'true' : undefined}
        aria-describedby={errors.currency ? `${id('currency')}-error` : undefined}
      >
        {[...new Set([...props.currencies, values.currency])].filter(Boolean).map((code) => (
          <option value={code} selected={code === values.currency}>
            {code.toUpperCase()}
          </option>
        ))}
      </select>
      <FieldError id={`${id('currency')}-error`} error={errors.currency} />
      <Field
        id={id('monthly')}
        name="monthlyAmount"
        label="Monthly price (e.g. 5.00)"
        required
        value={values.monthlyAmount}
        error={errors.monthlyAmount}
      />
      <Field
        id={id('yearly')}
        name="yearlyAmount"
        label="Yearly price (e.g. 50.00)"
        required
        value={values.yearlyAmount}
        error={errors.yearlyAmount}
      />
      <Field
        id={id('trial')}
        name="trialDays"
        type="number"
        label={`Free trial (days, 0 to ${MAX_TRIAL_DAYS}; 0 for none)`}
        value={values.trialDays}
        error={errors.trialDays}
      />
      <Field
        id={id('position')}
        name="position"
        type="number"
        label="Position (lower comes first)"
        value={values.position}
        error={errors.position}
      />
      <fieldset aria-describedby={errors.benefits ? `${id('benefits')}-error` : undefined}>
        <legend>Benefits</legend>
        {BENEFITS.map((benefit) => (
          <label class="choice">
            <input type="checkbox" name="benefits" value={benefit} checked={values.benefits.includes(benefit)} />{' '}
            {BENEFIT_LABELS[benefit]}
          </label>
        ))}
        <FieldError id={`${id('benefits')}-error`} error={errors.benefits} />
      </fieldset>
      <label class="choice">
        <input type="checkbox" name="active" value="on" checked={values.active} /> Active (readers can buy it)
      </label>
      <FieldError id={`${id('active')}-error`} error={errors.active} />
      <p>
        <button type="submit">{props.submit}</button>
      </p>
    </form>
  )
}

function FieldError(props: { id: string; error?: string | undefined }) {
  return props.error ? (
    <p id={props.id} class="error">
      {props.error}
    </p>
  ) : null
}
