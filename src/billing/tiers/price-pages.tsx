import { Field } from '../../ui/field'
import { href } from '../../ui/paths'
import { formatMoney, toMajorUnits } from '../../util/money'
import type { StripeState } from './pages'
import type { TierPrice } from './prices'
import type { Tier } from './tiers'

/** A price form shown again with what was typed and its errors: `currency` is the row's, or '' for the new one. */
export interface PriceFormState {
  currency: string
  values: Record<string, string>
  errors: Record<string, string>
}

const inStripe = (price: TierPrice, stripe: StripeState) =>
  stripe === 'not_configured'
    ? 'Stripe is not configured'
    : price.stripeMonthlyPriceId && price.stripeYearlyPriceId
      ? 'In Stripe'
      : 'Not in Stripe yet'

/** The edit page's section for a tier's prices in other currencies: one form per currency, and one to add another. */
export function OtherPrices(props: {
  tier: Tier
  prices: TierPrice[]
  currencies: readonly string[]
  stripe: StripeState
  form?: PriceFormState | undefined
}) {
  const { tier, form } = props
  const base = `/admin/tiers/${tier.id}/prices`
  const taken = new Set([tier.currency, ...props.prices.map((p) => p.currency)])
  const free = props.currencies.filter((code) => !taken.has(code))
  // A form for a currency with no row (the new one, or a row removed meanwhile) is shown as the new one.
  const newForm = form && !props.prices.some((p) => p.currency === form.currency) ? form : undefined
  return (
    <section aria-labelledby="other-prices-heading">
      <h2 id="other-prices-heading">Prices in other currencies</h2>
      <p>
        Readers choose which currency to pay in. Amounts are in each currency's own units: whole yen or won, three
        decimals for dinars. Each currency gets its own prices in Stripe, on this tier's product.
      </p>
      {props.prices.length === 0 ? <p>This tier is sold in {tier.currency.toUpperCase()} only.</p> : null}
      {props.prices.map((price) => {
        const mine = form?.currency === price.currency ? form : undefined
        const code = price.currency.toUpperCase()
        const id = (field: string) => `price-${price.currency}-${field}`
        const value = (field: 'monthlyAmount' | 'yearlyAmount') =>
          mine?.values[field] ?? toMajorUnits(price[field], price.currency)
        return (
          <form method="post" action={href(`${base}/${price.currency}`)} novalidate aria-label={`${code} prices`}>
            <h3>
              {code}: {formatMoney(price.monthlyAmount, price.currency)} a month,{' '}
              {formatMoney(price.yearlyAmount, price.currency)} a year
            </h3>
            <p class="muted">{inStripe(price, props.stripe)}</p>
            {mine?.errors.form ? <p class="error">{mine.errors.form}</p> : null}
            <Field
              id={id('monthly')}
              name="monthlyAmount"
              label={`Monthly price in ${code}`}
              value={value('monthlyAmount')}
              error={mine?.errors.monthlyAmount}
            />
            <Field
              id={id('yearly')}
              name="yearlyAmount"
              label={`Yearly price in ${code}`}
              value={value('yearlyAmount')}
              error={mine?.errors.yearlyAmount}
            />
            <p>
              <button type="submit">Save {code} prices</button>{' '}
              <button type="submit" formaction={href(`${base}/${price.currency}/remove`)}>
                Remove {code} prices
              </button>
            </p>
          </form>
        )
      })}
      {free.length === 0 && !newForm ? (
        <p class="muted">
          Every currency in SUPPORTED_CURRENCIES has a price. Add currencies there to sell the tier in more.
        </p>
      ) : (
        <form method="post" action={href(base)} novalidate aria-label="Add a currency">
          <h3>Add a currency</h3>
          {newForm?.errors.form ? <p class="error">{newForm.errors.form}</p> : null}
          <label for="price-new-currency">Currency</label>
          <select
            id="price-new-currency"
            name="currency"
            aria-invalid={newForm?.errors.currency ? 'true' : undefined}
            aria-describedby={newForm?.errors.currency ? 'price-new-currency-error' : undefined}
          >
            {free.map((code) => (
              <option value={code} selected={code === newForm?.values.currency}>
                {code.toUpperCase()}
              </option>
            ))}
          </select>
          {newForm?.errors.currency ? (
            <p id="price-new-currency-error" class="error">
              {newForm.errors.currency}
            </p>
          ) : null}
          <Field
            id="price-new-monthly"
            name="monthlyAmount"
            label="Monthly price (e.g. 5.00, or 1000 for yen)"
            value={newForm?.values.monthlyAmount ?? ''}
            error={newForm?.errors.monthlyAmount}
          />
          <Field
            id="price-new-yearly"
            name="yearlyAmount"
            label="Yearly price (e.g. 50.00, or 10000 for yen)"
            value={newForm?.values.yearlyAmount ?? ''}
            error={newForm?.errors.yearlyAmount}
          />
          <p>
            <button type="submit">Add prices</button>
          </p>
        </form>
      )}
    </section>
  )
}
