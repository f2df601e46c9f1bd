import { runService } from '../../core/service-host.ts';
import { startApi } from './service.ts';

await runService('api', { port: 3000 }, (context) => startApi(context), {
  workers: (config) => config.apiWorkers,
});
