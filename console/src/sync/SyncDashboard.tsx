import { useRef, useState } from 'react';
import {
    Alert,
    Box,
    Card,
    CardContent,
    LinearProgress,
    Stack,
    Table,
    TableBody,
    TableCell,
    TableHead,
    TableRow,
    Typography,
} from '@mui/material';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, HttpError, Link, Title, useNotify } from 'react-admin';
import { useSyncApi } from '../context';
import { outcomeText, progress, type SyncStatus } from '../syncApi';

function Figure({ label, value, testId }: { label: string; value: number | string; testId: string }) {
    return (
        <Box sx={{ minWidth: 110 }}>
            <Typography variant="h5" data-testid={testId}>
                {value}
            </Typography>
            <Typography variant="body2" color="text.secondary">
                {label}
            </Typography>
        </Box>
    );
}

function when(unixSeconds: number): string {
    return new Date(unixSeconds * 1000).toLocaleString();
}


/** The queue, the entities in and out of line, the last run, and the two levers. */
export function SyncDashboard() {
    const api = useSyncApi();
    const notify = useNotify();
    const queryClient = useQueryClient();
    const [running, setRunning] = useState(false);
    const atStart = useRef<SyncStatus | undefined>(undefined);
    const { data, error } = useQuery({
        queryKey: ['sync-status'],
        queryFn: api.status,
        // Faster while a run is going (this page's or another's), to show its progress.
        refetchInterval: (query) => (running || query.state.data?.running ? 1000 : 5000),
    });
    const elsewhere = !running && data?.running === true;
    const refresh = () => queryClient.invalidateQueries({ queryKey: ['sync-status'] });

    const runNow = async () => {
        atStart.current = data;
        setRunning(true);
        try {
            const report = await api.run();
            notify(
                `Sync run ${outcomeText(report.outcome)}: ${report.entitiesSynced} synced, ` +
                    `${report.failures?.length ?? 0} failed, ${report.entitiesDeferred} left for later`,
                { type: report.outcome === 'completed' ? 'success' : 'warning' },
            );
        } catch (e) {
            const message =
                e instanceof HttpError && e.status === 409
                    ? 'Another sync run is going on: this page follows it.'
                    : `The sync could not run: ${(e as Error).message}`;
            notify(message, { type: 'warning' });
        } finally {
            setRunning(false);
            await refresh();
            await queryClient.invalidateQueries({ queryKey: ['sync-entity'] });
        }
    };

    const redrive = async () => {
        try {
            const done = await api.redrive();
            notify(`${done.redriven} parked changes put back into the sync`, { type: 'info' });
        } catch (e) {
            notify(`Redrive failed: ${(e as Error).message}`, { type: 'error' });
        }
        await refresh();
    };

    const share = running ? progress(atStart.current, data) : null;
    const entities = data?.entities;
    const queue = data?.queue;
    const run = data?.lastRun;
    return (
        <Stack spacing={2} sx={{ mt: 2 }} data-testid="sync-dashboard">
            <Title title="Sync" />
            {error && <Alert severity="error">Sync status unavailable: {error.message}</Alert>}
            <Stack direction="row" spacing={1}>
                <Button
                    label={running ? 'Sync running…' : 'Run sync now'}
                    variant="contained"
                    onClick={runNow}
                    disabled={running || elsewhere}
                    data-testid="run-sync"
                />
                <Button
                    label="Redrive parked"
                    variant="outlined"
                    onClick={redrive}
                    disabled={running || !queue || queue.deadLettered === 0}
                    data-testid="redrive"
                />
            </Stack>
            {elsewhere && (
                <Alert severity="info" data-testid="running-elsewhere">
                    A sync run is going on (the schedule's, or another person's): this page follows it.
                </Alert>
            )}
            {(running || elsewhere) && (
                <LinearProgress
                    variant={share == null ? 'indeterminate' : 'determinate'}
                    value={share == null ? undefined : share * 100}
                    data-testid="sync-progress"
                />
            )}
            <Card>
                <CardContent>
                    <Typography variant="h6" gutterBottom>
                        Queue
                    </Typography>
                    <Stack direction="row" useFlexGap spacing={2} sx={{ flexWrap: "wrap" }}>
                        <Figure label="queued" value={queue?.queued ?? '…'} testId="queued" />
                        <Figure label="in flight" value={queue?.inFlight ?? '…'} testId="in-flight" />
                        <Figure label="parked" value={queue?.deadLettered ?? '…'} testId="dead-lettered" />
                        <Figure label="capture failures" value={queue?.captureFailed ?? '…'} testId="capture-failed" />
                    </Stack>
                </CardContent>
            </Card>
            <Card>
                <CardContent>
                    <Typography variant="h6" gutterBottom>
                        Entities
                    </Typography>
                    <Stack direction="row" useFlexGap spacing={2} sx={{ flexWrap: "wrap" }}>
                        <Figure label="in the master copy" value={entities?.local ?? '…'} testId="local" />
                        <Figure
                            label="pending"
                            value={entities ? `${entities.pending}${entities.pendingMore ? '+' : ''}` : '…'}
                            testId="pending"
                        />
                        <Figure label="waiting" value={entities?.waiting ?? '…'} testId="waiting" />
                        <Figure label="failed" value={entities?.failed ?? '…'} testId="failed" />
                        <Figure label="of them parked" value={entities?.parked ?? '…'} testId="parked" />
                    </Stack>
                    {entities?.problems && entities.problems.length > 0 && (
                        <Table size="small" sx={{ mt: 2 }} data-testid="problems">
                            <TableHead>
                                <TableRow>
                                    <TableCell>Entity</TableCell>
                                    <TableCell>State</TableCell>
                                    <TableCell>Since</TableCell>
                                    <TableCell>What the remote answered</TableCell>
                                </TableRow>
                            </TableHead>
                            <TableBody>
                                {entities.problems.map((p) => (
                                    <TableRow key={`${p.entity}-${p.id}`}>
                                        <TableCell>
                                            <Link to={`/${p.entity}s/${p.id}/show`}>
                                                {p.entity} {p.id}
                                            </Link>
                                        </TableCell>
                                        <TableCell>{p.parked ? 'parked' : p.status}</TableCell>
                                        <TableCell>{when(p.since)}</TableCell>
                                        <TableCell>{p.lastError ?? ''}</TableCell>
                                    </TableRow>
                                ))}
                            </TableBody>
                        </Table>
                    )}
                </CardContent>
            </Card>
            <Card>
                <CardContent>
                    <Typography variant="h6" gutterBottom>
                        Last run
                    </Typography>
                    {!run ? (
                        <Typography variant="body2">No run yet.</Typography>
                    ) : (
                        <Box data-testid="last-run">
                            <Typography variant="body2">
                                {when(run.startedAt)}, {(run.durationMs / 1000).toFixed(1)} s:{' '}
                                {outcomeText(run.outcome)}
                            </Typography>
                            <Stack direction="row" useFlexGap spacing={2} sx={{ mt: 1, flexWrap: "wrap" }}>
                                <Figure label="changes received" value={run.messagesReceived} testId="run-received" />
                                <Figure label="entities synced" value={run.entitiesSynced} testId="run-synced" />
                                <Figure label="left for later" value={run.entitiesDeferred} testId="run-deferred" />
                                <Figure label="backing off" value={run.entitiesBackingOff} testId="run-backing-off" />
                                <Figure label="parked" value={run.parked} testId="run-parked" />
                                <Figure
                                    label="remote calls"
                                    value={Object.values(run.calls ?? {}).reduce((a, b) => a + b, 0)}
                                    testId="run-calls"
                                />
                            </Stack>
                            {run.failures && run.failures.length > 0 && (
                                <Box sx={{ mt: 1 }}>
                                    {run.failures.map((f) => (
                                        <Typography key={`${f.entity}-${f.id}`} variant="body2" color="error">
                                            {f.entity} {f.id}: {f.error}
                                        </Typography>
                                    ))}
                                </Box>
                            )}
                        </Box>
                    )}
                </CardContent>
            </Card>
        </Stack>
    );
}
