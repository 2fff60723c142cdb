// GraphiQL, bundled with its editor's workers and served by the app at /graphql (app.py), so the
// IDE works without internet access (strawberry's own page loads it from a CDN).

import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';

import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';

const DEFAULT_QUERY = `# phananh's GraphQL API. Run with Ctrl-Enter or ▶; the Docs button lists every field.
# Officials send their token in Headers: {"Authorization": "Bearer <token>"}
{
  jurisdiction(lon: 105.8525, lat: 21.0287) {
    ward { code name }
    district { code name }
  }
}
`;

const fetcher = createGraphiQLFetcher({ url: `${window.location.origin}/graphql` });

createRoot(document.getElementById('graphiql'))
  .render(createElement(GraphiQL, { fetcher, defaultQuery: DEFAULT_QUERY }));
