/** The sync's own endpoints (`/sync/...`), typed as the API's openapi.json describes them. */

export interface QueueCounts {
    queued: number;
    inFlight: number;
    deadLettered: number;
    captureFailed: number;
}

export interface Problem {
    entity: 'post' | 'comment';
    id: number;
    status: string;
    parked: boolean;
    lastError: string | null;
    /** Unix seconds. */
    since: number;
}

export interface EntityCounts {
    local: number;
    pending: number;
    pendingMore?: boolean;
    failed: number;
    parked: number;
    waiting: number;
    problems?: Problem[];
}

export interface RunReport {
    startedAt: number;
    durationMs: number;
    /** completed, budget_spent or remote_unavailable. */
    outcome: string;
    messagesReceived: number;
    entitiesPending: number;
    entitiesSynced: number;
    entitiesDeferred: number;
    entitiesBackingOff: number;
    parked: number;
    calls: Record<string, number>;
    failures?: { entity: string; id: number; error: string }[];
    failuresOmitted?: number;
    messagesLeft?: number | null;
}

export interface SyncStatus {
    queue: QueueCounts;
    entities: EntityCounts;
    lastRun: RunReport | null;
    /** A run holds the sync's lease now (this console's or the schedule's). */
    running: boolean;
    /** Until when that lease runs at the latest (Unix seconds). */
    runningUntil: number | null;
    detailed: boolean;
}

export interface EntitySync {
    entity: 'post' | 'comment';
    id: number;
    status: 'queued' | 'pending' | 'synced' | 'failed' | 'waiting';
    remoteId: number | null;
    onRemote: boolean;
    pending: boolean;
    parked: boolean;
    attempts: number;
    lastError: string | null;
}

export interface Redriven {
    redriven: number;
    left: number;
}

type HttpClient = (url: string, options?: RequestInit) => Promise<{ json: unknown }>;

export function makeSyncApi(apiUrl: string, http: HttpClient) {
    return {
        status: async () => (await http(`${apiUrl}/sync/status`)).json as SyncStatus,
        run: async () => (await http(`${apiUrl}/sync/run`, { method: 'POST' })).json as RunReport,
        redrive: async (only?: { entity: 'post' | 'comment'; id: number }) => {
            const query = only ? `?entity=${only.entity}&id=${only.id}` : '';
            return (await http(`${apiUrl}/sync/redrive${query}`, { method: 'POST' })).json as Redriven;
        },
        entity: async (resource: 'posts' | 'comments', id: number | string) =>
            (await http(`${apiUrl}/sync/entities/${resource}/${id}`)).json as EntitySync,
    };
}

export type SyncApi = ReturnType<typeof makeSyncApi>;

/**
 * How far a run has come: the share of the work seen when it started (pending entities and
 * queued changes) that is gone now. `null` when there was nothing to measure against.
 */
export function progress(atStart: SyncStatus | undefined, now: SyncStatus | undefined): number | null {
    if (!atStart || !now) return null;
    const work = (s: SyncStatus) => s.entities.pending + s.queue.queued + s.queue.inFlight;
    const total = work(atStart);
    if (total === 0) return null;
    return Math.min(1, Math.max(0, 1 - work(now) / total));
}

/** A run's outcome (the sync's report, snake_case), said for a person. */
export function outcomeText(outcome: string): string {
    const said: Record<string, string> = {
        completed: 'completed',
        budget_spent: 'stopped at its time budget (the next run goes on)',
        remote_unavailable: 'stopped: the remote did not answer',
    };
    return said[outcome] ?? outcome;
}
