// Package faults holds no code: its tests prove how Relink behaves under faults
// against the real stand-ins (DynamoDB on moto, SES on aws-ses-v2-local, the sandbox
// OAuth channel) — DynamoDB throttling and lost answers, conditional-check races, SES
// throttling and refusals, a slow or failing channel, a Lambda deadline mid-run, a
// crash between two steps, and both scheduled functions twice at once under load.
// For each fault they check what the user sees, that nothing acknowledged is lost,
// that no reminder is sent twice or skipped, and that the next run repairs.
package faults
