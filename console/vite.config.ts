import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Served by the console function at /admin/ on the API's own origin (see functions/console).
export default defineConfig({
    base: '/admin/',
    plugins: [react()],
    build: {
        outDir: 'dist',
        emptyOutDir: true,
        // One Lambda answer is at most 6 MB; the function sends gzip, well under it.
        chunkSizeWarningLimit: 3000,
    },
    test: {
        environment: 'node',
        include: ['src/**/*.test.ts'],
    },
});
