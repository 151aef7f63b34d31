/**
 * The join page's one script, served from this origin (GET /assets/join.js; the content security
 * policy allows scripts from 'self' only). The page works fully without it: the frequency and
 * interval switches are plain CSS, and the fee cover is stated in words. With it, a typed amount
 * and the suggestions exclude each other, and the fee and the total are shown as the amount changes.
 * Amounts are integers of minor units here too; the server computes what is charged.
 */
export const JOIN_SCRIPT = `(() => {
  'use strict'
  const form = document.querySelector('form.give-form')
  if (!form) return
  const bp = Number(form.dataset.feeBp || 0)
  const fixed = JSON.parse(form.dataset.feeFixed || '{}')
  const exponents = JSON.parse(form.dataset.exponents || '{}')
  const steps = JSON.parse(form.dataset.steps || '{}')
  const live = form.querySelector('[data-fee-live]')
  const other = form.querySelector('input[name="amount"]')
  const value = (name) => (form.querySelector('[name="' + name + '"]:checked') || form.querySelector('select[name="' + name + '"]') || {}).value
  const currencyOf = () => value('currency') || form.dataset.currency
  const minor = (text, exponent) => {
    const match = /^(\\d{1,9})(?:\\.(\\d+))?$/.exec(String(text || '').trim())
    if (!match || (match[2] || '').length > exponent) return null
    return Number(match[1]) * 10 ** exponent + Number((match[2] || '').padEnd(exponent, '0') || '0')
  }
  const money = (amount, currency, exponent) =>
    new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase(), minimumFractionDigits: exponent, maximumFractionDigits: exponent })
      .format(amount / 10 ** exponent)
  const update = () => {
    if (!live) return
    const frequency = value('frequency') || 'once'
    const currency = currencyOf()
    const exponent = exponents[currency] ?? 2
    const amount = minor(other && other.value.trim() ? other.value : value('suggested_' + frequency), exponent)
    const cover = form.querySelector('input[name="cover_fees"]')
    if (!amount || !cover) { if (live.textContent) live.textContent = ''; return }
    const step = steps[currency] || 1
    const fee = Math.floor((Math.floor((amount * bp + 9999) / 10000) + (fixed[currency] || 0) + step - 1) / step) * step
    const per = frequency === 'monthly' ? ' a month' : frequency === 'yearly' ? ' a year' : ''
    const text = cover.checked
      ? 'Adds ' + money(fee, currency, exponent) + ': ' + money(amount + fee, currency, exponent) + per + ' in all.'
      : 'You give ' + money(amount, currency, exponent) + per + '.'
    // Only a change is written, and the address field's change is not listened to: in chromium, rewriting the text
    // on that change (fired as the button is pressed) swallowed the press, and the form was not sent.
    if (live.textContent !== text) live.textContent = text
  }
  // The suggestions are written in the main currency; another chosen is shown in its own.
  const relabel = () => {
    const currency = currencyOf()
    const exponent = exponents[currency] ?? 2
    for (const label of form.querySelectorAll('label[data-major]')) {
      const amount = minor(label.dataset.major, exponent)
      const per = label.closest('[data-frequency]')?.dataset.frequency
      if (amount) label.textContent = money(amount, currency, exponent) + (per === 'monthly' ? ' a month' : per === 'yearly' ? ' a year' : '')
    }
  }
  form.addEventListener('change', (event) => {
    const target = event.target
    if (target.name === 'currency') relabel()
    if (target.name && target.name.startsWith('suggested_') && other) other.value = ''
    if (target.name === 'email') return
    update()
  })
  if (other) {
    other.addEventListener('input', () => {
      if (other.value.trim()) for (const radio of form.querySelectorAll('input[name^="suggested_"]')) radio.checked = false
      update()
    })
  }
  update()
})()
`
