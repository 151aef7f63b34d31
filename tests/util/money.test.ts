import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  chargeProblem,
  chargeStep,
  isStripeCurrency,
  minorUnitExponent,
  STRIPE_CURRENCIES,
} from '../../src/util/currencies'
import { formatMoney, majorUnits, parseMajorUnits, toMajorUnits } from '../../src/util/money'

const CODES = [...STRIPE_CURRENCIES.keys()]
const SEED = 19_05

/** Up to 9 whole digits, as a person may type, in any currency. */
const amountIn = (code: string) => fc.integer({ min: 0, max: 999_999_999 * 10 ** minorUnitExponent(code) })

describe("Stripe's currencies", () => {
  it("lists the presentment currencies with their exponents, Stripe's way", () => {
    expect(CODES.length).toBeGreaterThan(130)
    expect(CODES).toEqual([...CODES].sort())
    for (const code of [
      'bif',
      'clp',
      'djf',
      'gnf',
      'jpy',
      'kmf',
      'krw',
      'mga',
      'pyg',
      'rwf',
      'ugx',
      'vnd',
      'vuv',
      'xaf',
      'xof',
      'xpf',
    ])
      expect([code, STRIPE_CURRENCIES.get(code as never)]).toEqual([code, 0])
    for (const code of ['bhd', 'jod', 'kwd', 'omr', 'tnd']) expect([code, minorUnitExponent(code)]).toEqual([code, 3])
    // The special cases keep two decimals in the API.
    for (const code of ['usd', 'eur', 'isk', 'huf', 'twd', 'idr'])
      expect([code, minorUnitExponent(code)]).toEqual([code, 2])
    expect(isStripeCurrency('JPY')).toBe(true)
    expect(isStripeCurrency('xyz')).toBe(false)
  })

  it('refuses what Stripe refuses to charge: a three-decimal amount not ending in 0, ISK with decimals', () => {
    expect(chargeProblem(5120, 'kwd')).toBeNull()
    expect(chargeProblem(5125, 'kwd')).toBe(
      'KWD is charged in steps of 0.010: the third decimal must be 0, like 5.120.',
    )
    expect(chargeProblem(5125, 'kwd', 'minor')).toBe(
      'KWD is charged in steps of 10 minor units: the last digit must be 0, such as 5120 for KWD 5.120.',
    )
    expect(chargeProblem(50000, 'isk')).toBeNull()
    expect(chargeProblem(50050, 'isk')).toBe('ISK is charged in whole units only: leave out the decimals, like 500.')
    // HUF and TWD are whole units for payouts only; charges may have decimals.
    expect(chargeProblem(123456, 'huf')).toBeNull()
    expect(chargeProblem(12345, 'twd')).toBeNull()
    expect(chargeProblem(1001, 'jpy')).toBeNull()
    expect(chargeProblem(100, 'xyz')).toBe('Stripe cannot charge in XYZ.')
  })
})

describe('reading and writing amounts, in every currency Stripe charges in', () => {
  it('round-trips: what toMajorUnits writes, parseMajorUnits reads back to the same minor units', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CODES).chain((code) => fc.tuple(fc.constant(code), amountIn(code))),
        ([code, amount]) => {
          expect(parseMajorUnits(toMajorUnits(amount, code), code)).toEqual({ ok: true, amount })
        },
      ),
      { seed: SEED, numRuns: 5000 },
    )
  })

  it('round-trips for every currency, at its edges', () => {
    for (const code of CODES) {
      const top = 999_999_999 * 10 ** minorUnitExponent(code)
      for (const amount of [0, 1, 9, 10, 99, 100, 101, 1000, 123_456, top]) {
        expect([code, parseMajorUnits(toMajorUnits(amount, code), code)]).toEqual([code, { ok: true, amount }])
      }
    }
  })

  it("formats with exactly the currency's decimals, showing the digits toMajorUnits writes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CODES).chain((code) => fc.tuple(fc.constant(code), amountIn(code))),
        ([code, amount]) => {
          const shown = formatMoney(amount, code)
          // The number in the formatted text, less its thousands separators, is the amount typed back.
          const digits = /\d[\d,]*(?:\.\d+)?/.exec(shown)?.[0].replaceAll(',', '')
          expect(digits).toBe(toMajorUnits(amount, code))
          expect(parseMajorUnits(digits!, code)).toEqual({ ok: true, amount })
        },
      ),
      { seed: SEED, numRuns: 3000 },
    )
  })

  it('refuses more decimals than the currency has, unless they are zeros, in every currency', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CODES),
        fc.integer({ min: 0, max: 99_999 }),
        fc.integer({ min: 1, max: 9 }),
        (code, whole, last) => {
          const exponent = minorUnitExponent(code)
          const text = `${whole}.${'0'.repeat(exponent)}${last}`
          expect(parseMajorUnits(text, code).ok).toBe(false)
          expect(parseMajorUnits(`${whole}.${'0'.repeat(exponent + 1)}`, code)).toEqual({
            ok: true,
            amount: whole * 10 ** exponent,
          })
        },
      ),
      { seed: SEED, numRuns: 1000 },
    )
  })

  it('makes every chargeable amount of every currency from whole steps', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CODES), fc.integer({ min: 1, max: 9_999_999 }), (code, steps) => {
        const amount = steps * chargeStep(code)
        expect(chargeProblem(amount, code)).toBeNull()
        expect(parseMajorUnits(toMajorUnits(amount, code), code)).toEqual({ ok: true, amount })
      }),
      { seed: SEED, numRuns: 1000 },
    )
  })
})

describe('amounts people see', () => {
  it('shows yen and won whole, dinars with three decimals, krónur whole', () => {
    expect(formatMoney(1000, 'jpy')).toBe('¥1,000')
    expect(formatMoney(1000, 'JPY')).toBe('¥1,000')
    expect(formatMoney(50_000, 'krw')).toBe('₩50,000')
    expect(formatMoney(1250, 'usd')).toBe('$12.50')
    expect(formatMoney(1250, 'eur')).toBe('€12.50')
    expect(formatMoney(5120, 'kwd')).toBe('KWD\u00a05.120')
    expect(formatMoney(50_000, 'isk')).toBe('ISK\u00a0500')
    expect(formatMoney(-500, 'usd')).toBe('-$5.00')
    // 0.1 + 0.2 and friends never happen: the digits are formatted, not a division.
    expect(formatMoney(999_999_999_99, 'usd')).toBe('$999,999,999.99')
  })

  it('reads what people type in the currency they chose, with messages in its terms', () => {
    expect(parseMajorUnits('1000', 'jpy')).toEqual({ ok: true, amount: 1000 })
    expect(parseMajorUnits('1000.00', 'jpy')).toEqual({ ok: true, amount: 1000 })
    expect(parseMajorUnits('1000.5', 'jpy')).toEqual({
      ok: false,
      message: 'JPY has no decimal places: write a whole number, like 500.',
    })
    expect(parseMajorUnits('', 'jpy')).toEqual({ ok: false, message: 'Enter an amount, like 500.' })
    expect(parseMajorUnits('1,000', 'jpy')).toEqual({
      ok: false,
      message: 'Write the amount with no thousands separators, like 1500.',
    })
    expect(parseMajorUnits('5.12', 'kwd')).toEqual({ ok: true, amount: 5120 })
    expect(parseMajorUnits('5.1234', 'kwd')).toEqual({
      ok: false,
      message: 'Use at most three decimal places, like 5.250.',
    })
    expect(parseMajorUnits('500', 'isk')).toEqual({ ok: true, amount: 50_000 })
  })

  it("checks a form's amount against Stripe's rules once the currency is known", () => {
    expect(majorUnits('kwd').safeParse('5.125').error?.issues[0]?.message).toBe(
      'KWD is charged in steps of 0.010: the third decimal must be 0, like 5.120.',
    )
    expect(majorUnits('isk').safeParse('500.50').error?.issues[0]?.message).toBe(
      'ISK is charged in whole units only: leave out the decimals, like 500.',
    )
    expect(majorUnits('jpy').safeParse('1000').data).toBe(1000)
    expect(majorUnits('usd').safeParse('12.5').data).toBe(1250)
  })
})
