// Stripe's currency rules, as the stand-in enforces them: the currencies it charges in, and the
// amounts it refuses to charge (src/util/currencies.ts holds the list and the rules).
import { chargeStep, isStripeCurrency } from '../../util/currencies'
import { StripeApiError } from './form'

/** A currency Stripe charges in, lower-cased; else Stripe's 400. */
export function checkCurrency(currency: string, param: string): string {
  if (!isStripeCurrency(currency)) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Invalid currency: ${currency.toLowerCase()}.`,
      undefined,
      param,
    )
  }
  return currency.toLowerCase()
}

/**
 * What Stripe refuses to charge: three-decimal amounts whose last digit is not 0, ISK amounts
 * that are not whole krónur (its API keeps two decimals; its card networks take none).
 */
export function checkChargeAmount(amount: number, currency: string, param: string): void {
  const step = chargeStep(currency)
  if (amount % step === 0) return
  const message =
    step === 100
      ? `Invalid amount. Currency ${currency.toUpperCase()} has become effectively zero-decimal and charged amounts must be evenly divisible by 100.`
      : `Invalid amount. Amounts in ${currency.toUpperCase()} must be rounded to the nearest ten: the last digit must be 0.`
  throw new StripeApiError(
    400,
    'invalid_request_error',
    message,
    step === 100 ? 'invalid_charge_amount_no_decimal_compatible' : 'invalid_charge_amount',
    param,
  )
}
