/** A labelled input with its error beside it, tied together for screen readers. */
export function Field(props: {
  id: string
  name: string
  label: string
  type?: string
  value?: string | undefined
  error?: string | undefined
  autocomplete?: string
  required?: boolean
}) {
  const errorId = `${props.id}-error`
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.name}
        type={props.type ?? 'text'}
        autocomplete={props.autocomplete}
        required={props.required}
        value={props.value ?? ''}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={props.error ? errorId : undefined}
      />
      {props.error ? (
        <p id={errorId} class="error">
          {props.error}
        </p>
      ) : null}
    </>
  )
}
