import { Alert, Box, Chip, Stack, Typography } from '@mui/material';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Button, useNotify, useRecordContext, useResourceContext } from 'react-admin';
import { useSyncApi } from '../context';
import type { EntitySync } from '../syncApi';

const COLORS: Record<EntitySync['status'], 'default' | 'success' | 'warning' | 'error' | 'info'> = {
    queued: 'info',
    pending: 'info',
    synced: 'success',
    waiting: 'warning',
    failed: 'error',
};

export function statusLabel(state: EntitySync): string {
    if (state.parked) return 'parked';
    if (state.status === 'synced' && !state.onRemote) return 'deleted on the remote';
    return state.status;
}

/** One post's or comment's place in the sync: beside it on its show page. */
export function EntitySyncPanel() {
    const record = useRecordContext();
    const resource = useResourceContext() as 'posts' | 'comments';
    const api = useSyncApi();
    const notify = useNotify();
    const queryClient = useQueryClient();
    const id = record?.id;
    const { data, error } = useQuery({
        queryKey: ['sync-entity', resource, id],
        queryFn: () => api.entity(resource, id as number),
        enabled: id != null,
        refetchInterval: (query) =>
            query.state.data && query.state.data.status !== 'synced' ? 3000 : 15000,
    });
    if (id == null) return null;
    if (error) return <Alert severity="warning">Sync state unavailable: {String(error.message)}</Alert>;
    if (!data) return <Typography variant="body2">Sync state…</Typography>;
    const redrive = async () => {
        const done = await api.redrive({ entity: data.entity, id: data.id });
        notify(`${done.redriven} parked change put back into the sync`, { type: 'info' });
        await queryClient.invalidateQueries({ queryKey: ['sync-entity', resource, id] });
    };
    return (
        <Box data-testid="entity-sync">
            <Stack direction="row" spacing={1} useFlexGap sx={{ alignItems: "center", flexWrap: "wrap" }}>
                <Typography variant="body2">Sync:</Typography>
                <Chip
                    size="small"
                    color={data.parked ? 'error' : COLORS[data.status]}
                    label={statusLabel(data)}
                    data-testid="sync-status"
                />
                <Typography variant="body2" data-testid="remote-id">
                    {data.remoteId != null ? `remote id ${data.remoteId}` : 'not on the remote yet'}
                </Typography>
                {data.attempts > 0 && (
                    <Typography variant="body2">{data.attempts} failed attempts</Typography>
                )}
                {data.parked && <Button label="Redrive" onClick={redrive} />}
            </Stack>
            {data.lastError && (
                <Typography variant="body2" color="error" sx={{ mt: 1 }}>
                    Last attempt: {data.lastError}
                </Typography>
            )}
        </Box>
    );
}
