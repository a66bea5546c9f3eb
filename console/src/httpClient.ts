import { fetchUtils, HttpError } from 'react-admin';
import type { SessionStore } from './session';

type FetchJson = typeof fetchUtils.fetchJson;

/** `/posts/5` or `/comments/5`: the records whose version the API tags. */
export function recordPath(url: string): string | null {
    const { pathname } = new URL(url, 'http://console.invalid');
    return /^\/(posts|comments)\/\d+$/.test(pathname) ? pathname : null;
}

export const CHANGED_MEANWHILE =
    'Someone changed this record meanwhile: reload it to see their change, then edit again.';

/** The API's field errors are lists; react-admin puts a string under each field. */
function fieldMessages(errors: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(
        Object.entries(errors).map(([field, messages]) => [
            field,
            Array.isArray(messages) ? messages.join('; ') : String(messages),
        ]),
    );
}

/** The API's errors, worded for a person, in the shape react-admin shows. */
export function explain(error: unknown): unknown {
    if (!(error instanceof HttpError)) return error;
    const body = (error.body ?? {}) as { message?: string; errors?: Record<string, unknown> };
    if (error.status === 400 && body.errors && typeof body.errors === 'object') {
        return new HttpError(body.message ?? 'The record is not valid.', 400, {
            ...body,
            errors: fieldMessages(body.errors),
        });
    }
    if (error.status === 412) {
        return new HttpError(CHANGED_MEANWHILE, 412, body);
    }
    return error;
}

/**
 * The HTTP client handed to react-admin's stock `ra-data-json-server` (its documented
 * extension point; the provider itself is unchanged). It adds what the API asks of a
 * careful client and json-server never did:
 * - the bearer token of the session;
 * - `If-Match` with the version last read of a record, on its `PUT` and `DELETE`: a save
 *   over someone else's newer change is refused (412) instead of overwriting it.
 */
export function makeHttpClient(store: SessionStore, fetchJson: FetchJson = fetchUtils.fetchJson) {
    const versions = new Map<string, string>();
    return async (url: string, options: fetchUtils.Options = {}) => {
        const headers = new Headers(
            (options.headers as HeadersInit | undefined) ?? { Accept: 'application/json' },
        );
        const session = store.load();
        if (session) headers.set('Authorization', `Bearer ${session.token}`);
        const method = (options.method ?? 'GET').toUpperCase();
        const record = recordPath(url);
        const known = record ? versions.get(record) : undefined;
        if (known && (method === 'PUT' || method === 'PATCH' || method === 'DELETE')) {
            headers.set('If-Match', known);
        }
        try {
            const response = await fetchJson(url, { ...options, headers });
            if (record) {
                const tag = response.headers.get('ETag');
                if (method === 'DELETE') versions.delete(record);
                else if (tag && !tag.startsWith('W/')) versions.set(record, tag);
            }
            return response;
        } catch (error) {
            throw explain(error);
        }
    };
}
